"""Promotion (`approval: manual`): services moved to a later environment in one commit, the
image each runs in the environment it is promoted `from`, never rebuilt.

The image is read from the source environment's manifest at the gitops head, never taken
from the request (a token holder's event is not trusted to name one), and only when the
newest change to that manifest is a Shipline deploy to the source environment, whose trailer
names the source commit (environment_survey.py). A promotion moves all its services or
none: one the source runs nothing promotable for, or pinned in the target, refuses it all.
Each image passes the committer's admission again, by the digest the registry has for its
tag now (registry_admission): a tag pushed again since with an unscanned image is refused;
under the target environment's own scan policy, when it has one (rescan.py), an image that
policy blocks ends `blocked` (ScanFailed, the findings in its reason) and nothing is written.
The commit names the source environment, each image with its digest and source commit, a
`Shipline-Deployed: ... in <environment>` trailer per service and the request's
`Shipline-Request`: a redelivered request finds its commit, and a `Shipline-Image` trailer
per image whose passed verdict the admission found: the evidence a later promotion from this
environment reads when Redis lost the verdict (scan_evidence.py, read on the source
environment's gitops branch).

An environment with its own `gitops:` (repository and/or branch) is written there: what the
source environment runs is read from the source's gitops branch (synced under its lock, its
manifest and trailers at the head), and the promotion is committed to the target's branch
under the target's lock; the events name the target's repository, branch and cluster.

An environment that writes by pull request (`write: pull-request`, `approval: pull-request`)
gets the same commit on a branch of its own and a pull request instead
(pull_request_writeback.py): the gitops branch moves only when a person merges it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

from services.committer.admission import Admission, Blocked
from services.committer.environment_survey import running_in
from services.committer.formats import read_image
from services.committer.gitops_commit import Change, Finished, GitopsCommits
from services.committer.images import ImageRef
from services.committer.manifest_edit import edit_manifest, read_manifest
from services.committer.messages import promotion_message, request_grep, scanned_image
from services.committer.pull_request_writeback import PullRequestWriteback
from services.committer.rescan import Promoted as PromotedImage
from services.committer.scan_evidence import GitScanEvidence, ScanEvidence
from services.committer.targets import Target, Targets
from services.common.environment_view import Running
from services.common.environments import Environment
from services.common.errors import PermanentError
from services.common.events import (
    Envelope,
    ManifestCommitted,
    PromotionRequested,
    ScanFailed,
    Source,
    StageFailed,
)
from services.common.git import CommitInfo
from services.common.image_lookup import find_image
from services.common.promotion import Already, Promote, Refused, decide_promotion
from services.common.scan_verdicts import ScanVerdict
from services.common.settings import Settings
from services.detector.environment_runs import newest_in

Promoted = list[Envelope]


@dataclass(frozen=True)
class Admitted:
    digest: str
    passed: bool  # the scanner's verdict (or its evidence in git) says passed: not skipped


# (service, image, source commit) → the image's digest, once the image may be deployed
# (PermanentError why not); None: the digest only when the manifest pins it, no check.
Admit = Callable[[str, str, Source], str]


def promote(
    request: PromotionRequested,
    targets: Targets,
    commits: GitopsCommits,
    admit: Admit | None = None,
    pulls: PullRequestWriteback | None = None,
) -> Promoted:
    """`pulls`: how an environment that writes by pull request gets one (without it, such a
    promotion is refused: a commit would bypass the review the environment asks for)."""
    head = targets.head(request.repository)
    found = targets.find(request.repository, head)
    environment = promoted_to(found, request.environment)
    for service in request.services:
        found.spec(service)  # PermanentError for a service shipline.yaml does not have
    target = found.for_environment(environment.name)
    source = found.for_environment(environment.source)
    runs = None
    if source.checkout.path != target.checkout.path:  # another gitops repository or branch
        runs = source_runs(source, commits, request.services, environment.source or "")
    evidence = GitScanEvidence(source.checkout, commits.bot.email)
    write = PromoteWrite(request, target, environment, admit, runs, evidence)
    if environment.write_mode == "pull-request":
        if pulls is None:
            raise PermanentError(f"{environment.name} writes by pull request: none can be opened")
        return pulls.promote(request, target, environment, write.prepare)
    return commits.commit(target, write.prepare)


def registry_admission(
    settings: Settings, admission: Admission, request: PromotionRequested | None = None
) -> RegistryAdmission:
    """The registry's digest of the image's tag (the tag may have been pushed again since
    the source environment took it: what is promoted must still be the scanned image), let
    through the committer's admission like every deploy (the service's own repository, a
    scan verdict recorded for that digest) and, given the `request`, its target
    environment's scan policy (Blocked when it blocks the image)."""
    return RegistryAdmission(settings, admission, request)


@dataclass(frozen=True)
class RegistryAdmission:
    settings: Settings
    admission: Admission
    request: PromotionRequested | None = None

    def __call__(self, service: str, image: str, source: Source) -> str:
        return self.admitted(service, image, source).digest

    def admitted(
        self, service: str, image: str, source: Source, evidence: ScanEvidence | None = None
    ) -> Admitted:
        """`evidence`: where a verdict Redis lost is found again (the source's gitops branch)."""
        ref = ImageRef.parse(image)
        digest = ref.digest or find_image(self.settings, ref.repository, ref.tag or "").digest
        request, admission = self.request, self.admission
        if request is None:
            verdicts = admission.check(source, {service: (ref.repository, digest)}, evidence)
            return Admitted(digest, _passed(verdicts, service))
        promoted = PromotedImage(
            request.run_id,
            request.environment,
            service,
            source,
            ref.repository,
            ref.tag,
            digest,
        )
        verdicts = admission.check_promotion(promoted, evidence)
        return Admitted(digest, _passed(verdicts, service))


def _passed(verdicts: Mapping[str, ScanVerdict], service: str) -> bool:
    verdict = verdicts.get(service)
    return verdict is not None and verdict.outcome == "passed"


def source_runs(
    source: Target, commits: GitopsCommits, services: Iterable[str], environment: str
) -> dict[str, Running]:
    """What `environment` runs, read on its own gitops branch's head (synced under its lock)."""

    def read() -> Finished[dict[str, Running]]:
        return Finished(
            {
                service: running_in(
                    source.checkout, source.project, source.source.name, service, environment
                )
                for service in sorted(set(services))
            }
        )

    return commits.commit(source, read)


def promoted_to(target: Target, name: str) -> Environment:
    """The target environment, when a promotion to it can be written (PermanentError why not)."""
    project = target.project
    if not project.environments:
        raise PermanentError("shipline.yaml has no environments: nothing to promote")
    environment = project.environment(name)  # ConfigError (permanent) for an unknown name
    if environment.source is None:
        raise PermanentError(f"{name} is the first environment: pushes deploy there")
    return environment


@dataclass(frozen=True)
class PromoteWrite:
    request: PromotionRequested
    target: Target
    environment: Environment
    admit: Admit | None = None
    # what the source environment runs, read on its own gitops branch (None: on the target's)
    source_runs: Mapping[str, Running] | None = None
    evidence: ScanEvidence | None = None  # a lost verdict's evidence, on the source's branch

    @property
    def source_environment(self) -> str:
        return self.environment.source or ""

    def _in_source(self, service: str) -> Running:
        if self.source_runs is not None:
            return self.source_runs.get(service, Running(why_not=f"{service} was not read"))
        target = self.target
        return running_in(
            target.checkout, target.project, target.source.name, service, self.source_environment
        )

    def prepare(self) -> Change[Promoted] | Finished[Promoted]:
        request, checkout, project = self.request, self.target.checkout, self.target.project
        earlier = checkout.log(".", grep=request_grep(request.event_id), limit=1)
        if earlier:  # a redelivery: the promotion is committed already
            return Finished(self._redelivered(earlier[0]))
        name, repository = self.environment.name, self.target.source.name
        decisions = {
            service: decide_promotion(
                service,
                self.source_environment,
                name,
                self._in_source(service),
                running_in(checkout, project, repository, service, name),
            )
            for service in sorted(set(request.services))
        }
        refused = {s: d.reason for s, d in decisions.items() if isinstance(d, Refused)}
        if refused:
            return Finished(self._refused(refused))
        texts: dict[str, str] = {}
        olds: dict[str, str] = {}
        promoted: dict[str, tuple[str, str, Source]] = {}
        blocked: dict[str, ScanFailed] = {}
        scanned: dict[str, tuple[str, str]] = {}
        for service, decision in decisions.items():
            if not isinstance(decision, Promote):
                continue
            path = project.manifest_path(service, name)
            text = texts.get(path) or read_manifest(checkout, path)
            spec = self.target.spec(service)
            edit = edit_manifest(text, service, spec, ImageRef.parse(decision.image), path)
            texts[path], olds[service] = edit.text, edit.old_image
            source = self._source(decision.repository, decision.commit)
            try:
                admitted = self._admitted(service, decision.image, source)
            except Blocked as exc:
                blocked[service] = exc.outcome
                continue
            promoted[service] = (decision.image, admitted.digest, source)
            named = scanned_image(ImageRef.parse(decision.image).repository, admitted.digest)
            if admitted.passed and named is not None:
                scanned[service] = named
        if blocked:  # the promotion moves all its services or none
            return Finished(self._blocked(blocked))
        if not promoted:  # every service runs there already
            return Finished(self._already(decisions))
        for path, text in texts.items():
            checkout.write(path, text)
        message = promotion_message(
            name,
            self.source_environment,
            promoted,
            request.requested_by,
            request.reason,
            request.event_id,
            request.run_id,
            scanned,
        )
        return Change(sorted(texts), message, partial(self._committed, decisions, olds, promoted))

    def _committed(
        self,
        decisions: Mapping[str, object],
        olds: Mapping[str, str],
        promoted: Mapping[str, tuple[str, str, Source]],
        sha: str,
    ) -> Promoted:
        events: Promoted = list(self._already(decisions))
        for service, (image, digest, source) in sorted(promoted.items()):
            events.append(self._event(service, source, olds[service], image, sha, digest))
        return events

    def _admitted(self, service: str, image: str, source: Source) -> Admitted:
        if isinstance(self.admit, RegistryAdmission):
            return self.admit.admitted(service, image, source, self.evidence)
        if self.admit is None:
            return Admitted(ImageRef.parse(image).digest or "", passed=False)
        return Admitted(self.admit(service, image, source), passed=False)

    def _already(self, decisions: Mapping[str, object]) -> Promoted:
        """The services the target runs already: committed, in the commit that wrote them."""
        checkout, events = self.target.checkout, []
        for service, decision in sorted(decisions.items()):
            if isinstance(decision, Already):
                path = self.target.project.manifest_path(service, self.environment.name)
                running = self._in_source(service)
                source = self._source(running.repository or "", running.commit or "")
                sha = checkout.last_commit_touching(path)
                events.append(self._event(service, source, decision.image, decision.image, sha))
        return events

    def _redelivered(self, info: CommitInfo) -> Promoted:
        """The events of the promotion committed as `info`: the target's images before and
        in it, and the source commits its trailers name."""
        checkout, project, events = self.target.checkout, self.target.project, []
        name, sha = self.environment.name, info.sha
        trailers = newest_in([info], name)
        for service in sorted(set(self.request.services)):
            path = project.manifest_path(service, name)
            spec, image_repository = self.target.spec(service), project.image_repository(service)
            new_text, old_text = checkout.read_at(sha, path), checkout.read_at(f"{sha}^", path)
            new = read_image(new_text or "", service, spec, image_repository)
            old = read_image(old_text, service, spec, image_repository) if old_text else new
            built = trailers.get(service)
            source = self._source(built.repository, built.commit) if built else self._source("", "")
            events.append(self._event(service, source, old, new, sha))
        return events

    def _blocked(self, blocked: Mapping[str, ScanFailed]) -> Promoted:
        """Each service the target's scan policy blocks ends blocked, the others refused."""
        why = {s: f"{s} is blocked by {self.environment.name}'s scan policy" for s in blocked}
        others = [e for e in self._refused(why) if getattr(e, "service", None) not in blocked]
        return [*(blocked[s] for s in sorted(blocked)), *others]

    def _refused(self, refused: Mapping[str, str]) -> Promoted:
        why = "; ".join(refused[service] for service in sorted(refused))
        return [
            StageFailed(
                event_id=self.request.follow_up_id("StageFailed", service),
                run_id=self.request.run_id,
                stage="committer",
                service=service,
                error_class="PromotionRefused",
                message=f"not promoted to {self.environment.name}: {why}"[:2000],
                retryable=False,
            )
            for service in sorted(set(self.request.services))
        ]

    def _event(
        self, service: str, source: Source, old: str, new: str, sha: str, digest: str = ""
    ) -> Envelope:
        target = self.target
        return ManifestCommitted(
            event_id=self.request.follow_up_id("ManifestCommitted", service),
            run_id=self.request.run_id,
            service=service,
            source=source,
            manifest_path=target.project.manifest_path(service, self.environment.name),
            old_image=old,
            new_image=new,
            digest=digest or ImageRef.parse(new).digest or "",
            gitops_repository=target.gitops.name,
            gitops_commit=sha,
            branch=target.checkout.branch,
            cluster=self.environment.cluster or target.cluster,
            auto_rollback=target.spec(service).auto_rollback,
        )

    def _source(self, repository: str, commit: str) -> Source:
        """The source commit an image was built from (the head when unknown, on a redelivery
        whose source manifest has moved on)."""
        ref = f"refs/heads/{self.target.source.default_branch}"
        if repository != self.target.source.name or len(commit) != 40:
            return Source(repository=self.target.source.name, commit=self.target.commit, ref=ref)
        return Source(repository=repository, commit=commit, ref=ref)
