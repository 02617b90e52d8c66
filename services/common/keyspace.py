"""Every key Shipline keeps in Redis, built in one place under one namespace.

The namespace (setting `redis_namespace`, default "shipline") starts every key, followed by
a colon: `shipline:run:<run id>`, `shipline:pin:<repository>:<service>`. With the default
the keys are those Shipline always wrote, so an existing deployment keeps its data. The
namespace holds no `:` and no glob character, so `<namespace>:` can be scanned for.

Celery's own keys are not under it: the stage queues (`shipline.<stage>`, named in
services/common/bus.py, the Kubernetes autoscalers and the intake's script), kombu's
`unacked*` and `_kombu.binding*`. Two deployments on one Redis need two databases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from hashlib import sha256

DEFAULT_NAMESPACE = "shipline"
NAMESPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


@dataclass(frozen=True)
class Keyspace:
    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        if not re.fullmatch(NAMESPACE_PATTERN, self.namespace):
            raise ValueError(
                "a Redis namespace is 1 to 63 letters, digits, '_', '.' or '-' (no ':', "
                f"no glob characters), starting with a letter or digit: {self.namespace!r}"
            )

    def _key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key of the namespace."""
        return self._key("*")

    # --- runs (services/common/runs.py, run_projection.py) ----------------------------------

    @property
    def runs_index(self) -> str:
        """Sorted set of run ids, scored by creation time."""
        return self._key("runs")

    def run(self, run_id: str) -> str:
        """The run's hash: status, trigger, times, and the trigger's own fields."""
        return self._key("run", run_id)

    def run_service(self, run_id: str, service: str) -> str:
        """One service's hash: stage, status, image, digest, reason, per-stage times."""
        return self._key("run", run_id, "svc", service)

    def run_services(self, run_id: str) -> str:
        """The set of the run's service names."""
        return self._key("run", run_id, "services")

    def run_finished(self, run_id: str) -> str:
        """The set of the run's services that ended."""
        return self._key("run", run_id, "finished")

    def run_scanned(self, run_id: str) -> str:
        """The set of the services with a scan outcome (a release waits for all of them)."""
        return self._key("run", run_id, "scanned")

    # --- the run indexes (services/common/run_index.py), written with the runs ------------

    def runs_by_status(self, status: str) -> str:
        """Sorted set of the runs whose status is `status`, scored by creation time."""
        return self._key("runs", "status", status)

    def runs_by_service(self, service: str) -> str:
        """Sorted set of the runs of a service (any repository), scored by creation time."""
        return self._key("runs", "service", service)

    def runs_by_repository(self, repository: str) -> str:
        """Sorted set of a repository's runs, scored by creation time."""
        return self._key("runs", "repository", repository)

    def runs_by_repository_service(self, repository: str, service: str) -> str:
        """Sorted set of the runs of one repository's service, scored by creation time."""
        return self._key("runs", "repository-service", repository, service)

    @property
    def runs_settled(self) -> str:
        """Sorted set of the runs that left queued/running, scored by the order they did in
        (`runs_settled_sequence`)."""
        return self._key("runs", "settled")

    @property
    def runs_settled_sequence(self) -> str:
        """The counter numbering the runs as they settle."""
        return self._key("runs", "settled-sequence")

    @property
    def runs_indexed(self) -> str:
        """Set once every run recorded before the indexes existed has been indexed (JSON:
        when, how many); the readers scan the runs one by one until then."""
        return self._key("runs", "indexed")

    @property
    def runs_indexing(self) -> str:
        """The rebuild's progress: how many runs, newest first, it has indexed so far."""
        return self._key("runs", "indexing")

    # --- the event log (services/common/eventlog.py) ---------------------------------------

    @property
    def events(self) -> str:
        """The stream of every run's events (capped)."""
        return self._key("events")

    def run_events(self, run_id: str) -> str:
        """The stream of one run's events."""
        return self._key("run", run_id, "events")

    def event_logged(self, event_id: object) -> str:
        """Marks an event appended to the log (appended once, however often published)."""
        return self._key("logged", str(event_id))

    # --- intake (services/gateway/intake.py, manual_events.py) -----------------------------

    def delivery(self, source: str, delivery_id: str) -> str:
        """A trigger's delivery id (webhook, idempotency key) → the run it started."""
        return self._key("delivery", source, delivery_id)

    def push_update(self, repository: str, ref: str) -> str:
        """A ref's last update ("<run id> <before>..<after>"), within the replay window."""
        ref_id = sha256("\x00".join((repository, ref)).encode()).hexdigest()
        return self._key("push", ref_id)

    def hand_run(self, run_id: str) -> str:
        """The hand event (or "the pipeline") that owns a run id given by hand."""
        return self._key("hand-run", run_id)

    # --- the stage runner (services/common/stage.py) ----------------------------------------

    def stage_claim(self, stage: str, event_id: object) -> str:
        """Held while one worker of `stage` handles the event."""
        return self._key("claim", stage, str(event_id))

    def stage_done(self, stage: str, event_id: object) -> str:
        """Marks an event `stage` handled (a redelivery is then ignored)."""
        return self._key("done", stage, str(event_id))

    # --- dead letters (services/common/deadletters.py) ---------------------------------------

    @property
    def dead_letters(self) -> str:
        """Sorted set of letter ids, scored by when they died."""
        return self._key("dead-letters")

    def dead_letter(self, letter_id: str) -> str:
        """One letter's hash."""
        return self._key("dead-letter", letter_id)

    # --- what the stages keep -------------------------------------------------------------

    def pin(self, repository: str, service: str, environment: str = "") -> str:
        """A service held on the image an operator rolled back to (JSON); `environment` ""
        the first one, whose key is the one pins had before environments."""
        if environment:
            return self._key("pin", repository, service, environment)
        return self._key("pin", repository, service)

    @property
    def pins_pattern(self) -> str:
        """A SCAN pattern matching every pin."""
        return self._key("pin", "*")

    def inventory(self, repository: str) -> str:
        """A repository's services as last surveyed (JSON)."""
        return self._key("inventory", repository)

    def environments(self, repository: str) -> str:
        """What each environment of a repository runs, as the committer last read it (JSON;
        services/common/environment_view.py)."""
        return self._key("environments", repository)

    def promotion_pull(self, gitops_repository: str, number: int) -> str:
        """A promotion's open pull request: its run and the commits its merge lands (JSON;
        services/common/promotion_pulls.py)."""
        return self._key("promotion-pull", gitops_repository, str(number))

    @property
    def promotion_pulls_listed(self) -> str:
        """Set once the reconciler listed every open promotion pull request on its host
        (gone: Redis lost its data, listed again; reconciler/promotion_pull_recovery.py)."""
        return self._key("promotion-pulls", "listed")

    @property
    def promotion_pulls(self) -> str:
        """The open promotion pull requests (members: their promotion_pull keys)."""
        return self._key("promotion-pulls")

    def scan_verdict(self, image_repository: str, digest: str) -> str:
        """What the scanner concluded about one image (JSON)."""
        return self._key("scan-verdict", f"{image_repository}@{digest}")

    def environment_scan_verdict(self, environment: str, image_repository: str, digest: str) -> str:
        """An image's scan under an environment's own policy, made when it was promoted
        there (JSON; services/common/environment_scan_verdicts.py)."""
        return self._key("scan-verdict-in", environment, f"{image_repository}@{digest}")

    def scan_sbom(self, run_id: str, service: str) -> str:
        """What became of one scan's SBOM: kept, attached in the registry, or why not (JSON;
        services/common/sbom_record.py)."""
        return self._key("scan-sbom", run_id, service)

    def scan_host_report(self, run_id: str, service: str) -> str:
        """What the git host was given for one scan: the code-scanning upload or the commit
        status (JSON; services/common/scan_host_reports.py)."""
        return self._key("scan-host-report", run_id, service)

    @property
    def code_scanning_pending(self) -> str:
        """Sorted set of the code-scanning uploads GitHub has not finished processing (JSON
        [repository, run id, service]), scored by when to ask again (services/githost/
        code_scanning_status.py)."""
        return self._key("code-scanning", "pending")

    @property
    def code_scanning_leader(self) -> str:
        """The lease of the scanner process that asks GitHub about pending uploads."""
        return self._key("code-scanning", "leader")

    def project_checked(self, repository: str, commit: str) -> str:
        """The conditions a commit's whole shipline.yaml was checked clean under."""
        return self._key("project-checked", repository, commit)

    def newest_build(self, repository: str, ref: str, service: str) -> str:
        """The newest build of a service and branch (JSON: event id, time, commit, run)."""
        return self._key("builder", "newest", repository, ref, service)

    def deployed_commits(self, gitops_repository: str, branch: str) -> str:
        """The source commit each service's manifest was last deployed from, as the gitops
        branch's trailers say at one head (JSON; services/detector/deployed.py)."""
        return self._key("detector", "deployed", gitops_repository, branch)

    def sent_builds(self, repository: str, ref: str) -> str:
        """Hash: each service of a branch → the run the detector last sent it to build in."""
        return self._key("detector", "sent", repository, ref)

    def build_lease(self, image_repository: str, commit: str) -> str:
        """Held by the one builder building an image at a commit."""
        return self._key("builder", "lease", image_repository, commit)

    def last_tag(self, image_repository: str, ref: str) -> str:
        """The last tag a branch pushed (the next build's cache source)."""
        return self._key("builder", "last", image_repository, ref)

    def gitops_lock(self, gitops_repository: str, branch: str) -> str:
        """Held while a commit is written to a gitops repository's branch."""
        return self._key("lock", "gitops", gitops_repository, branch)

    def run_notified(self, run_id: str, channel: str, status: str) -> str:
        """A run summary with this outcome was delivered to `channel` (or refused by it)."""
        return self._key("notified", run_id, channel, status)

    def event_sent(self, event_id: object, channel: str) -> str:
        """An event was delivered to `channel` (or refused by it)."""
        return self._key("sent", str(event_id), channel)

    def live(self, cluster: str) -> str:
        """A cluster's live state, per image repository (hash of JSON)."""
        return self._key("live", cluster)

    # --- the reconciler (services/reconciler/) ----------------------------------------------

    @property
    def reconciler_leader(self) -> str:
        """The lease of the one process that reconciles (a token, expiring)."""
        return self._key("reconciler", "leader")

    @property
    def reconciler_runs(self) -> str:
        """Sorted set of the runs in flight it follows, scored by when it last looked."""
        return self._key("reconciler", "runs")

    @property
    def reconciler_cursor(self) -> str:
        """The creation time of the newest run it has started following."""
        return self._key("reconciler", "cursor")

    def reconciler_redriven(self, stage: str, event_id: object) -> str:
        """Marks an event re-sent to `stage` (for the visibility timeout)."""
        return self._key("reconciler", "redriven", stage, str(event_id))

    def reconciler_retry(self, repository: str, service: str) -> str:
        """A service whose last build failed transiently: when the reconciler builds it
        again, and the run it last started (JSON; services/reconciler/converge_state.py)."""
        return self._key("reconciler", "retry", repository, service)

    def reconciler_sweep(self, repository: str) -> str:
        """A repository's last sweep from git: its head, the services seen behind that
        nothing accounts for, when to sweep again (JSON; services/reconciler/sweep.py)."""
        return self._key("reconciler", "sweep", repository)

    @property
    def auto_promotions_due(self) -> str:
        """Sorted set of the auto-promotions soaking: each PromotionRequested (JSON), scored
        by when it is due; the reconciler publishes it then (services/reconciler/due.py)."""
        return self._key("auto-promotions", "due")

    @property
    def auto_promotions_swept(self) -> str:
        """When the auto-promotions owed were last read from git (gone: Redis lost its data,
        read again at once; services/reconciler/auto_promotion_sweep.py)."""
        return self._key("auto-promotions", "swept")


DEFAULT_KEYSPACE = Keyspace()
