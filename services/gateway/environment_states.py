"""What each environment runs of each service, for the services table: the committer's view
of the repository (services/common/environment_view.py, recorded after each of its commits),
with the state of the newest run that wrote that image there and the image's digest from
the run store, and the promotion pull request awaiting its merge into it, if any.

A run names its environment in its `environment` field (a promotion's); a run without one
wrote the first environment (a push, a tag, a deploy or rollback by hand), as before
`environments:` existed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.common.environment_view import EnvironmentsView, EnvironmentView, Running
from services.common.promotion_pulls import PendingPromotion
from services.common.run_models import Run, ServiceRecord
from services.common.runs import RunReads, RunStore
from services.common.service_table import (
    EnvironmentState,
    EnvironmentStatus,
    PendingPullRequest,
)

RUNS_SEARCHED = 1000  # as far back as the services table looks for a service's last run
DIGEST_IN_REFERENCE = "@sha256:"

Wanted = tuple[str, str, str, str]  # (repository, environment, service, image)
Pulls = dict[tuple[str, str, str], PendingPullRequest]  # (repository, environment, service)


@dataclass(frozen=True)
class Written:
    """The newest run that wrote an image into an environment, as its record has it."""

    run_id: str
    status: EnvironmentStatus
    digest: str | None


def environment_states(
    views: dict[str, EnvironmentsView],
    services: Iterable[tuple[str, str]],
    runs: RunStore,
    pending: Iterable[PendingPromotion] = (),
) -> dict[tuple[str, str], list[EnvironmentState]]:
    """(repository, service) → a state per environment of the repository's view, in order;
    `views`: repository → its view (a repository without one is left out); `pending`: the
    promotions whose pull request awaits its merge."""
    keys = [(repo, service) for repo, service in services if repo in views]
    wanted = {
        (repo, env.name, service, running.image)
        for repo, service in keys
        for env in views[repo].environments
        if (running := env.services.get(service)) is not None and running.image
    }
    found = _from_runs(runs, wanted, views) if keys else FromRuns()
    pulls = _pulls(pending)
    return {
        (repo, service): [
            _state(views[repo], env, service, found, pulls) for env in views[repo].environments
        ]
        for repo, service in keys
    }


def _state(
    view: EnvironmentsView,
    env: EnvironmentView,
    service: str,
    found: FromRuns,
    pulls: Pulls,
) -> EnvironmentState:
    running = env.services.get(service) or Running(
        why_not=f"{env.name} keeps its manifests in another gitops repository or branch: "
        "not surveyed yet"
    )
    image = running.image
    run = found.written.get((view.repository, env.name, service, image)) if image else None
    built = found.digests.get((view.repository, service, image or ""))
    digest = _digest(image, (run.digest if run else None) or built)
    return EnvironmentState(
        name=env.name,
        source=env.source,
        image=image,
        digest=digest,
        source_repository=running.repository,
        source_commit=running.commit,
        since=running.since,
        state=("missing" if image is None else run.status if run else "committed"),
        run_id=run.run_id if run else None,
        incoming_run_id=found.incoming.get((view.repository, env.name, service)),
        pending_pull_request=pulls.get((view.repository, env.name, service)),
        pinned=running.pinned,
        promotable=running.why_not is None and image is not None,
        reason=running.why_not,
        surveyed_at=view.surveyed_at,
    )


def _pulls(pending: Iterable[PendingPromotion]) -> Pulls:
    """Each service's open request per environment; a newer run's supersedes an older's."""
    found: Pulls = {}
    for pull in sorted(pending, key=lambda p: p.run_id):
        request = PendingPullRequest(number=pull.number, url=pull.url, run_id=pull.run_id)
        for committed in pull.committed:
            found[(pull.repository, pull.environment, committed.service)] = request
    return found


def _digest(image: str | None, from_runs: str | None) -> str | None:
    """The digest the reference pins, else the one a run recorded for the image."""
    if image and DIGEST_IN_REFERENCE in image:
        return image.split("@", 1)[1]
    return from_runs or None


@dataclass
class FromRuns:
    """What the newest runs say: the run that wrote each wanted image into its environment,
    a digest per (repository, service, image) from any run that built or wrote it, and the
    run under way that will write each (repository, environment, service)."""

    written: dict[Wanted, Written] = field(default_factory=dict)
    digests: dict[tuple[str, str, str], str] = field(default_factory=dict)
    incoming: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _from_runs(runs: RunStore, wanted: set[Wanted], views: dict[str, EnvironmentsView]) -> FromRuns:
    if runs.index.built():
        return _from_indexes(runs, wanted, views)
    found = FromRuns()
    images = {(repo, service, image) for repo, _, service, image in wanted}
    for n, (run_id, _) in enumerate(runs.newest_first()):
        if n >= RUNS_SEARCHED or (
            len(found.written) == len(wanted) and len(found.digests) == len(images)
        ):
            break
        run = runs.get(run_id)
        view = views.get(run.repository or "") if run is not None else None
        if run is None or view is None:
            continue
        environment = _environment_of(run, view)
        for service, record in run.services.items():
            key = (view.repository, service, record.image)
            if record.digest and key in images:
                found.digests.setdefault(key, record.digest)
            wrote = (view.repository, environment, service, record.image)
            if wrote in wanted and wrote not in found.written and record.gitops_commit:
                found.written[wrote] = Written(run_id, _status(record), record.digest or None)
            if _under_way(run, record):
                found.incoming.setdefault((view.repository, environment, service), run_id)
    return found


def _from_indexes(
    runs: RunStore, wanted: set[Wanted], views: dict[str, EnvironmentsView]
) -> FromRuns:
    """As the scan finds them, read from each wanted service's runs (at most RUNS_SEARCHED
    of them) and the runs in progress."""
    found, read = FromRuns(), RunReads(runs)
    services = sorted({(repo, service) for repo, _, service, _ in wanted})
    newest, in_progress = runs.index.newest_of_each(services), runs.index.in_progress()
    read.ahead([*newest.values(), *in_progress])
    for repository, service in services:
        rows = {w for w in wanted if w[0] == repository and w[2] == service}
        images = {(repository, service, image) for _, _, _, image in rows}
        first = newest.get((repository, service))
        for n, run_id in enumerate(runs.index.of_service(repository, service, first)):
            if n >= RUNS_SEARCHED or (
                rows <= found.written.keys() and images <= found.digests.keys()
            ):
                break
            run = read(run_id)
            record = run.services.get(service) if run and run.repository == repository else None
            if run is None or record is None:
                continue
            view = views[repository]
            key = (repository, service, record.image)
            if record.digest and key in images:
                found.digests.setdefault(key, record.digest)
            wrote = (repository, _environment_of(run, view), service, record.image)
            if wrote in rows and wrote not in found.written and record.gitops_commit:
                found.written[wrote] = Written(run_id, _status(record), record.digest or None)
    for run_id in in_progress:
        run = read(run_id)
        ran_in = views.get(run.repository or "") if run is not None else None
        if run is None or ran_in is None:
            continue
        environment = _environment_of(run, ran_in)
        for service, record in run.services.items():
            if _under_way(run, record):
                found.incoming.setdefault((ran_in.repository, environment, service), run_id)
    return found


def _under_way(run: Run, record: ServiceRecord) -> bool:
    """The run will write the service's environment: it has not committed it yet."""
    return (
        run.status in ("queued", "running")
        and record.status in ("pending", "running")
        and not record.gitops_commit
    )


def _environment_of(run: Run, view: EnvironmentsView) -> str:
    named = (run.model_extra or {}).get("environment")
    if isinstance(named, str) and named:
        return named
    return view.environments[0].name if view.environments else ""


def _status(record: ServiceRecord) -> EnvironmentStatus:
    if record.status == "failed":
        return "failed"
    if record.status in ("pending", "running"):
        return "pending"
    if record.status == "succeeded" and (
        record.push_to_healthy is not None or record.stage == "verifier"
    ):
        return "healthy"
    return "committed"
