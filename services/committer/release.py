"""Release: every service of a release run in one commit, with its release notes.

A release deploys all its services or none: one the scanner blocked (or that failed) holds
the whole release back. Each service is still decided on the gitops head like a deploy
(held while pinned, never backwards), and those skipped are reported beside the commit.

With `environments:`, a release goes where pushes deploy unless a later environment has
`releases: true` (release_environment.py): then its manifests and trailers, and when it
writes by pull request, the same commit in one pull request whose body has the notes.
That environment's own `scan:` judges every image again first (rescan.py, as a promotion):
one it blocks holds the whole release back, nothing written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, partial

from services.committer.decide import Proceed
from services.committer.deploy import is_ancestor_fetched, skipped
from services.committer.formats import read_image
from services.committer.gitops_commit import Change, Finished, GitopsCommits
from services.committer.images import ImageEdit, ImageRef
from services.committer.manifest_edit import edit_manifest, read_manifest
from services.committer.messages import release_message, request_grep, scanned_image
from services.committer.pull_request_writeback import PullRequestWriteback
from services.committer.release_environment import release_decision, released_to
from services.committer.release_notes import prepend_changelog, release_notes
from services.committer.stores import Pins, RunFacts
from services.committer.targets import Target, Targets
from services.common.environments import Environment
from services.common.errors import PermanentError
from services.common.events import (
    Envelope,
    ManifestCommitted,
    ReleaseReady,
    ScanFailed,
    StageFailed,
)
from services.common.project import Project, ServiceSpec

Released = list[Envelope]
Edited = tuple[str, ImageEdit, ImageRef]  # (manifest path, the edit, the image written)
# each image the named environment's own scan policy blocks, by service (Rescan.release_blocked)
Judge = Callable[[ReleaseReady, Project, str], Mapping[str, ScanFailed]]


def release(
    ready: ReleaseReady,
    targets: Targets,
    commits: GitopsCommits,
    pins: Pins,
    runs: RunFacts,
    pulls: PullRequestWriteback | None = None,
    judge: Judge | None = None,
    passed: frozenset[str] = frozenset(),
) -> Released:
    """`pulls`: how a releases environment that writes by pull request gets one (without
    it, such a release is refused: a commit would bypass the review it asks for); `judge`:
    the images that environment's own scan policy blocks (None: the scanner's verdicts
    carry over); `passed`: the services whose image's passed verdict the admission found,
    named by digest in the commit (`Shipline-Image`)."""
    if ready.held:
        return refused(ready)
    target = targets.find(ready.source.repository, ready.source.commit)
    environment = released_to(target.project)
    if environment is not None and judge is not None:
        blocked = judge(ready, target.project, environment.name)
        if blocked:
            return blocked_release(ready, environment.name, blocked)
    target = target.for_environment(environment.name if environment else None)
    notes = notes_of(target, ready, commits.bot.email)
    runs.keep_release_notes(ready.run_id, notes)
    specs = {service: target.spec(service) for service in ready.images}
    write = ReleaseWrite(ready, target, specs, notes, pins, environment, passed)
    if environment is not None and environment.write_mode == "pull-request":
        if pulls is None:
            raise PermanentError(f"{environment.name} writes by pull request: none can be opened")
        return pulls.release(ready, target, environment, write.prepare, notes)
    return commits.commit(target, write.prepare)


@dataclass
class ReleaseEdits:
    """The manifests as the release leaves them, and what each service came to."""

    texts: dict[str, str] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)
    edits: dict[str, Edited] = field(default_factory=dict)
    skipped: Released = field(default_factory=list)

    def changed(self) -> list[str]:
        return [path for path in self.texts if self.texts[path] != self.originals[path]]


@dataclass(frozen=True)
class ReleaseWrite:
    ready: ReleaseReady
    target: Target
    specs: Mapping[str, ServiceSpec]
    notes: str
    pins: Pins
    environment: Environment | None = None  # a later environment with `releases: true`
    passed: frozenset[str] = frozenset()  # services whose image's verdict says passed

    @property
    def environment_name(self) -> str | None:
        return self.environment.name if self.environment else None

    def prepare(self) -> Change[Released] | Finished[Released]:
        ready, checkout = self.ready, self.target.checkout
        done = self._edit_every_service()
        changed = done.changed()
        if not changed:  # all there already: a redelivery after the push, or nothing new
            earlier = checkout.log(".", grep=request_grep(ready.event_id), limit=1)
            shas = {
                path: earlier[0].sha if earlier else checkout.last_commit_touching(path)
                for path, _, _ in done.edits.values()
            }
            return Finished(self.committed(done, shas))
        for path in changed:
            checkout.write(path, done.texts[path])
        changelog = self.target.project.gitops.changelog
        if changelog:
            checkout.write(changelog, prepend_changelog(checkout.read(changelog), self.notes))
            changed.append(changelog)
        message = release_message(
            ready.version,
            self.notes,
            {s: ready.source for s in done.edits},
            ready.event_id,
            self.environment_name,
            self._scanned(done),
        )
        return Change(changed, message, partial(self.committed_at, done))

    def _scanned(self, done: ReleaseEdits) -> dict[str, tuple[str, str]]:
        images = self.ready.images
        named = {
            service: scanned_image(images[service].image_repository, images[service].digest)
            for service in done.edits
            if service in self.passed
        }
        return {service: image for service, image in named.items() if image is not None}

    def _edit_every_service(self) -> ReleaseEdits:
        ready, done = self.ready, ReleaseEdits()
        # every service has the same source commit, and after a release the same deployed
        # one: ask git once per pair, not twice per service
        ancestry = cache(partial(is_ancestor_fetched, self.target.mirror))
        for service, item in sorted(ready.images.items()):
            spec = self.specs[service]
            path = self.target.project.manifest_path(service, self.environment_name)
            if path not in done.texts:
                done.texts[path] = done.originals[path] = read_manifest(self.target.checkout, path)
            image = ImageRef(item.image_repository, item.tag, item.digest, spec.pin_digest)
            decision = release_decision(
                self.target, self.pins, ready.source, service, path, self.environment, ancestry
            )
            if not isinstance(decision, Proceed):
                current = read_image(done.texts[path], service, spec, item.image_repository)
                done.skipped.append(
                    skipped(ready, ready.source, service, str(image), decision, current)
                )
                continue
            edit = edit_manifest(done.texts[path], service, spec, image, path)
            done.texts[path] = edit.text
            done.edits[service] = (path, edit, image)
        return done

    def committed_at(self, done: ReleaseEdits, sha: str) -> Released:
        return self.committed(done, {path: sha for path, _, _ in done.edits.values()})

    def committed(self, done: ReleaseEdits, shas: Mapping[str, str]) -> Released:
        """The skipped services' outcomes, then one ManifestCommitted per written service;
        `shas`: the commit that holds each manifest path."""
        ready, target = self.ready, self.target
        cluster = (self.environment.cluster if self.environment else None) or target.cluster
        return done.skipped + [
            ManifestCommitted(
                event_id=ready.follow_up_id("ManifestCommitted", service),
                run_id=ready.run_id,
                service=service,
                source=ready.source,
                manifest_path=path,
                old_image=edit.old_image,
                new_image=str(image),
                digest=image.digest or "",
                gitops_repository=target.gitops.name,
                gitops_commit=shas[path],
                branch=target.checkout.branch,
                kind="release",
                cluster=cluster,
                auto_rollback=self.specs[service].auto_rollback,
            )
            for service, (path, edit, image) in sorted(done.edits.items())
        ]


def notes_of(target: Target, ready: ReleaseReady, bot_email: str) -> str:
    """The release notes: the source commits since the previous release tag."""
    mirror, commit = target.mirror, ready.source.commit
    previous = mirror.previous_tag(commit, target.project.release_tags)
    commits = mirror.log(previous, commit, limit=1000)
    return release_notes(ready.version, previous, commits, bot_email)


def blocked_release(
    ready: ReleaseReady, environment: str, blocked: Mapping[str, ScanFailed]
) -> Released:
    """Each service `environment`'s scan policy blocks ends blocked with its findings, the
    others not deployed, naming it: the release is one commit, all its services or none."""
    held = {service: f"is blocked by {environment}'s scan policy" for service in blocked}
    others = refused(ready.model_copy(update={"held": held}))
    return [
        *(blocked[s] for s in sorted(blocked)),
        *(e for e in others if getattr(e, "service", None) not in held),
    ]


def refused(ready: ReleaseReady) -> Released:
    """A release deploys all its services or none: a blocked or failed one holds it back."""
    why = "; ".join(f"{service} {reason}" for service, reason in sorted(ready.held.items()))
    return [
        StageFailed(
            event_id=ready.follow_up_id("StageFailed", service),
            run_id=ready.run_id,
            stage="committer",
            service=service,
            error_class="ReleaseIncomplete",
            message=f"release {ready.version} not deployed: {why}"[:2000],
            retryable=False,
        )
        for service in sorted(ready.images)
    ]
