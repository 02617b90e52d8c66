"""Write-back: set images in the gitops repository, commit as the bot, push.

One writer at a time per gitops repository and branch, across every committer process (a
Redis lock with expiry); a push rejected because the branch moved anyway (say, the lock
expired, or a person pushed) is re-applied on the fresh head and retried with backoff.
Every attempt starts from the remote head, so each decision (superseded, held, already
there) is taken on what is really deployed.

Three kinds of write: a deploy (one service, one commit), a release (every service of a
release run, one commit) and a rollback (one service, then pinned). Where a write goes is
resolved in targets.py; how a prepared change lands (lock, push retries) is gitops_commit.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.committer.decide import Decision, Proceed, Superseded, decide
from services.committer.formats import read_image
from services.committer.gitops_commit import Change, Finished, GitopsCommits
from services.committer.images import ImageEdit, ImageRef
from services.committer.lock import GitopsLock
from services.committer.manifest_edit import edit_manifest, read_manifest
from services.committer.messages import (
    Deployed,
    deploy_message,
    deployed_from,
    deployed_grep,
    release_message,
    request_grep,
    rollback_message,
)
from services.committer.release_notes import prepend_changelog, release_notes
from services.committer.rollback import Version, previous_image, provenance
from services.committer.targets import Target, configured_source, find_target
from services.committer.yamlsplice import ManifestError
from services.common.errors import PermanentError
from services.common.events import (
    DeploymentSkipped,
    Envelope,
    ManifestCommitted,
    ReleaseReady,
    RollbackRequested,
    ScanPassed,
    Source,
    StageFailed,
)
from services.common.git_checkout import Checkout
from services.common.logging import get_logger
from services.common.mirrors import mirror_of
from services.common.pins import PinStore
from services.common.project import ServiceSpec
from services.common.runs import RunStore
from services.common.safe_files import UnsafePath
from services.common.settings import Settings

HISTORY_LIMIT = 200  # manifest versions a rollback looks back through
MANUAL_TRIGGERS = frozenset({"deploy"})  # runs whose deploys bypass the pin and ancestry

Deploy = ManifestCommitted | DeploymentSkipped


class GitopsWriter:
    def __init__(self, settings: Settings, redis_client: Any) -> None:
        self._settings = settings
        self._redis = redis_client
        self._pins = PinStore(redis_client)
        self._runs = RunStore(redis_client)
        lock = GitopsLock(redis_client, settings.committer.lock_wait_seconds)
        self._commits = GitopsCommits(lock, settings.bot)

    # --- deploy: one service ------------------------------------------------------------

    def deploy(self, scan: ScanPassed) -> Deploy:
        target = find_target(self._settings, scan.source.repository, scan.source.commit)
        service, spec = scan.service, target.spec(scan.service)
        path = target.project.manifest_path(service)
        image = ImageRef(scan.image_repository, scan.tags[0], scan.digest, spec.pin_digest)
        manual = self._runs.trigger(scan.run_id) in MANUAL_TRIGGERS
        checkout, log = target.checkout, get_logger(manifest=path)

        def prepare() -> Change[Deploy] | Finished[Deploy]:
            text = read_manifest(checkout, path)
            decision = self._decide(target, scan.source, service, path, manual)
            if not isinstance(decision, Proceed):
                current = read_image(text, service, spec, scan.image_repository)
                return Finished(_skipped(scan, scan.source, service, str(image), decision, current))
            edit = edit_manifest(text, service, spec, image, path)

            def committed(sha: str) -> ManifestCommitted:
                return ManifestCommitted(
                    event_id=scan.follow_up_id("ManifestCommitted"),
                    run_id=scan.run_id,
                    service=service,
                    source=scan.source,
                    manifest_path=path,
                    old_image=edit.old_image,
                    new_image=str(image),
                    digest=scan.digest,
                    gitops_repository=target.gitops.name,
                    gitops_commit=sha,
                    branch=checkout.branch,
                    cluster=self._cluster(target),
                    auto_rollback=spec.auto_rollback,
                )

            if not edit.changed:
                log.info("manifest already holds the image", image=str(image))
                return Finished(committed(checkout.last_commit_touching(path)))
            checkout.write(path, edit.text)
            message = deploy_message(service, str(image), scan.source)
            return Change[Deploy]([path], message, committed)

        return self._commits.commit(target, prepare)

    # --- release: every service of a release run, one commit ------------------------------

    def release(self, ready: ReleaseReady) -> list[Envelope]:
        if ready.held:
            return _release_refused(ready)
        target = find_target(self._settings, ready.source.repository, ready.source.commit)
        notes = self._release_notes(target, ready)
        self._runs.keep_release_notes(ready.run_id, notes)
        specs = {service: target.spec(service) for service in ready.images}
        checkout = target.checkout

        def prepare() -> Change[list[Envelope]] | Finished[list[Envelope]]:
            texts: dict[str, str] = {}
            originals: dict[str, str] = {}
            edits: dict[str, tuple[str, ImageEdit, ImageRef]] = {}
            outcomes: list[Envelope] = []
            for service, item in sorted(ready.images.items()):
                spec, path = specs[service], target.project.manifest_path(service)
                if path not in texts:
                    texts[path] = originals[path] = read_manifest(checkout, path)
                image = ImageRef(item.image_repository, item.tag, item.digest, spec.pin_digest)
                decision = self._decide(target, ready.source, service, path, manual=False)
                if not isinstance(decision, Proceed):
                    current = read_image(texts[path], service, spec, item.image_repository)
                    outcomes.append(
                        _skipped(ready, ready.source, service, str(image), decision, current)
                    )
                    continue
                edit = edit_manifest(texts[path], service, spec, image, path)
                texts[path] = edit.text
                edits[service] = (path, edit, image)

            def committed(sha_for: Callable[[str], str]) -> list[Envelope]:
                return outcomes + [
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
                        gitops_commit=sha_for(path),
                        branch=checkout.branch,
                        kind="release",
                        cluster=self._cluster(target),
                        auto_rollback=specs[service].auto_rollback,
                    )
                    for service, (path, edit, image) in sorted(edits.items())
                ]

            changed = [path for path in texts if texts[path] != originals[path]]
            if not changed:  # all there already: a redelivery after the push, or nothing new
                earlier = checkout.log(".", grep=request_grep(ready.event_id), limit=1)
                return Finished(
                    committed(
                        lambda path: (
                            earlier[0].sha if earlier else checkout.last_commit_touching(path)
                        )
                    )
                )
            for path in changed:
                checkout.write(path, texts[path])
            changelog = target.project.gitops.changelog
            if changelog:
                checkout.write(changelog, prepend_changelog(checkout.read(changelog), notes))
                changed.append(changelog)
            message = release_message(
                ready.version, notes, {s: ready.source for s in edits}, ready.event_id
            )
            return Change(changed, message, lambda sha: committed(lambda _: sha))

        return self._commits.commit(target, prepare)

    def _release_notes(self, target: Target, ready: ReleaseReady) -> str:
        mirror, commit = target.mirror, ready.source.commit
        previous = mirror.previous_tag(commit, target.project.release_tags)
        commits = mirror.log(previous, commit, limit=1000)
        return release_notes(ready.version, previous, commits, self._settings.bot.email)

    # --- rollback: one service, back to an earlier image, then pinned --------------------

    def rollback(
        self, request: RollbackRequested, only_from: str | None = None
    ) -> ManifestCommitted:
        """`only_from`: roll back only while the manifest still holds this image (an automatic
        rollback must not revert a newer deploy that replaced the failed one)."""
        source = configured_source(self._settings, request.repository)
        mirror = mirror_of(self._settings, source)
        mirror.fetch()
        head = mirror.resolve(f"refs/heads/{source.default_branch}")
        if head is None:
            raise PermanentError(f"{source.name} has no branch {source.default_branch}")
        target = find_target(self._settings, request.repository, head)
        service, spec = request.service, target.spec(request.service)
        path = target.project.manifest_path(service)
        repository = target.project.image_repository(service)
        checkout = target.checkout
        ref = f"refs/heads/{source.default_branch}"

        def result(sha: str, old: str, new: str, built: Deployed | None) -> ManifestCommitted:
            self._pins.pin(source.name, service, new, request.requested_by, request.run_id)
            commit = built.commit if built and built.repository == source.name else head
            return ManifestCommitted(
                event_id=request.follow_up_id("ManifestCommitted"),
                run_id=request.run_id,
                service=service,
                source=Source(repository=source.name, commit=commit, ref=ref),
                manifest_path=path,
                old_image=old,
                new_image=new,
                gitops_repository=target.gitops.name,
                gitops_commit=sha,
                branch=checkout.branch,
                kind="rollback",
                cluster=self._cluster(target),
            )

        def prepare() -> Change[ManifestCommitted] | Finished[ManifestCommitted]:
            text = read_manifest(checkout, path)
            current = read_image(text, service, spec, repository)
            history = self._history(checkout, path, service, spec, repository)
            earlier = checkout.log(".", grep=request_grep(request.event_id), limit=1)
            if earlier:  # a redelivery: the rollback is committed already
                before = checkout.read_at(f"{earlier[0].sha}^", path) or text
                old = read_image(before, service, spec, repository)
                return Finished(result(earlier[0].sha, old, current, provenance(history, current)))
            if only_from is not None and current != only_from:
                raise PermanentError(
                    f"not rolled back: {path} now holds {current}, not the failed {only_from}"
                )
            if request.to:
                base = ImageRef.parse(current).repository
                wanted = ImageRef(base, request.to, request.digest, spec.pin_digest)
            else:
                wanted = ImageRef.parse(previous_image(history, current).image)
            edit = edit_manifest(text, service, spec, wanted, path)
            new = read_image(edit.text, service, spec, repository)
            built = provenance(history, new)
            if not edit.changed:
                return Finished(result(checkout.last_commit_touching(path), current, new, built))
            checkout.write(path, edit.text)
            built_from = (
                Source(repository=built.repository, commit=built.commit, ref=ref) if built else None
            )
            message = rollback_message(
                service, current, new, request.requested_by, request.event_id, built_from
            )
            return Change([path], message, lambda sha: result(sha, current, new, built))

        return self._commits.commit(target, prepare)

    def _history(
        self, checkout: Checkout, path: str, service: str, spec: ServiceSpec, repository: str
    ) -> list[Version]:
        versions = []
        for info in checkout.log(path, limit=HISTORY_LIMIT):
            try:
                text = checkout.read_at(info.sha, path)
            except UnsafePath:
                break  # a symbolic link then: no version to roll back to beyond it
            if text is None:
                break  # the file did not exist before
            try:
                image = read_image(text, service, spec, repository)
            except ManifestError:
                break  # an older layout of the file: nothing to roll back to beyond it
            versions.append(Version(info.sha, image, deployed_from(info.message, service)))
        return versions

    # --- shared machinery ----------------------------------------------------------------

    def _cluster(self, target: Target) -> str | None:
        """The cluster that verifies commits to this gitops branch, if one is configured."""
        cluster = self._settings.cluster_for(target.gitops.name, target.checkout.branch)
        return cluster.name if cluster else None

    def _decide(
        self, target: Target, source: Source, service: str, path: str, manual: bool
    ) -> Decision:
        checkout = target.checkout
        last = checkout.log(path, grep=deployed_grep(service), limit=1)
        deployed = deployed_from(last[0].message, service) if last else None
        pin = self._pins.get(target.source.name, service)

        def is_ancestor(older: str, newer: str) -> bool:
            if not target.mirror.has_commit(newer):
                target.mirror.fetch()
            return target.mirror.is_ancestor(older, newer)

        return decide(source, deployed, pin, manual, is_ancestor)


def _skipped(
    cause: Envelope, source: Source, service: str, image: str, decision: Decision, current: str
) -> DeploymentSkipped:
    get_logger().info("deploy skipped", image=image, why=getattr(decision, "reason", ""))
    return DeploymentSkipped(
        event_id=cause.follow_up_id("DeploymentSkipped", service),
        run_id=cause.run_id,
        service=service,
        source=source,
        image=image,
        outcome="superseded" if isinstance(decision, Superseded) else "held",
        reason=getattr(decision, "reason", ""),
        deployed_image=current,
    )


def _release_refused(ready: ReleaseReady) -> list[Envelope]:
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
