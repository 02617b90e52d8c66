"""One ChangeDetected, built once: the builder stage's work, with its adapters passed in.

0. What is built comes from shipline.yaml at the commit, never from the event: the service's
   image repository, context, Dockerfile, build args and target, the tags its ref gives (a
   `latest` or version tag only when the mirror's ref names the commit), and whether RUN
   steps get a network. An event that disagrees is refused (services/builder/plan.py).
1. A newer build of the same service and branch already started: superseded, nothing done.
2. Hold the image's lease for the commit (a concurrent request for it waits here).
3. The registry already has the first tag, built from this commit: `ImagePushed(cached=True)`;
   the other tags are pointed at it if they are not yet.
4. Otherwise build the context at exactly the commit (`.dockerignore` applied, the OCI
   labels written into the Dockerfile; streamed through a temporary file, at most
   `builder.max_context_bytes`), with the
   branch's previous image as cache source, and push: the engine pushes one tag, the others
   are pointed at its manifest through the registry. A newer build arriving meanwhile, or
   the timeout, cancels it. The output goes to the run's build log; failures carry its tail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from services.builder.context import context_file
from services.builder.coordination import Coordinator, Lease, Newer
from services.builder.docker_engine import BuildInterrupted, BuildResult, DockerEngine, Retag
from services.builder.logs import BuildLog, build_log_path
from services.builder.plan import (
    BuildSpec,
    already_built,
    build_spec,
    cache_sources,
    failure_message,
    image_pushed,
    oci_labels,
    superseded,
)
from services.builder.registry import RegistryClient, split_repository
from services.common.errors import PermanentError, TransientError
from services.common.events import ChangeDetected, Envelope, Source
from services.common.git import Mirror
from services.common.image_tags import parse_ref
from services.common.logging import get_logger
from services.common.mirrors import mirror_of, project_at
from services.common.registry_auth import RegistryLogin, registry_login
from services.common.settings import Repository, Settings

SUPERSEDED = "superseded"
LEASE_LOST = "lease lost"
RegistryFactory = Callable[[str, RegistryLogin | None], RegistryClient]


@dataclass
class Builder:
    settings: Settings
    engine: DockerEngine
    coordinator: Coordinator
    registries: RegistryFactory | None = None

    def build(self, change: ChangeDetected) -> Sequence[Envelope]:
        started = time.monotonic()
        repo = self.settings.repository(change.source.repository)
        if repo is None:
            raise PermanentError(f"repository {change.source.repository} is not configured")
        mirror = mirror_of(self.settings, repo)
        # Never a bare has_commit(): seen while another process still fetches, the commit may
        # lack its trees and blobs. fetch() checks under the mirror's lock.
        mirror.fetch(unless_present=change.source.commit)
        _check_commit(mirror, change.source)
        project = project_at(
            mirror, repo.name, change.source.commit, self.settings.limits.project_file_bytes
        )
        spec = build_spec(change, project, repo.default_branch)
        if not repo.allows_image(spec.image_repository):
            raise PermanentError(
                f"{spec.image_repository} is outside the image_registries configured for "
                f"{repo.name} in the server settings: not built"
            )
        if spec.tags_from_ref:
            _check_ref(mirror, repo, change.source)
        newer = self.coordinator.claim_newest(change)
        if newer is not None:
            get_logger().info("build superseded before it started", newer=newer.commit)
            return (superseded(change, newer.commit, newer.run_id),)
        login = registry_login(self.settings, spec.image_repository)
        host, name = split_repository(spec.image_repository)
        timeout = self.settings.builder.timeout_seconds
        with (
            self._registry(host, login) as registry,
            self.coordinator.lease(spec.image_repository, change.source.commit, timeout) as lease,
        ):
            remote = registry.image(name, spec.tags[0])
            if remote is not None and already_built(remote.labels, change):
                for tag in spec.tags[1:]:
                    if registry.digest(name, tag) != remote.digest:
                        registry.tag(name, remote.digest, tag)
                get_logger().info("image already in the registry", digest=remote.digest)
                seconds = time.monotonic() - started
                return (image_pushed(change, remote.digest, seconds, cached=True),)
            outcome = self._build(
                change, spec, repo, mirror, login, lease, partial(registry.tag, name)
            )
        if isinstance(outcome, Newer):
            return (superseded(change, outcome.commit, outcome.run_id),)
        self.coordinator.remember_tag(spec.image_repository, change.source.ref, spec.tags[0])
        get_logger().info(
            "image pushed",
            digest=outcome.digest,
            seconds=outcome.seconds,
            cached_steps=outcome.cached_steps,
            cache_source=outcome.cache_source,
        )
        return (image_pushed(change, outcome.digest, time.monotonic() - started),)

    def _registry(self, host: str, login: RegistryLogin | None) -> RegistryClient:
        if self.registries is not None:
            return self.registries(host, login)
        return RegistryClient(host, login, insecure_hosts=self.settings.builder.insecure_registries)

    def _build(
        self,
        change: ChangeDetected,
        spec: BuildSpec,
        repo: Repository,
        mirror: Mirror,
        login: RegistryLogin | None,
        lease: Lease,
        retag: Retag,
    ) -> BuildResult | Newer:
        last = self.coordinator.last_tag(spec.image_repository, change.source.ref)
        sources = cache_sources(change, last) if self.settings.builder.cache_from else []
        watch = _Interrupt(self.coordinator, change, lease)
        path = build_log_path(self.settings.workdir, change.run_id, change.service)
        title = f"{change.service} at {change.source.short_sha}, event {change.event_id}"
        with (
            context_file(
                mirror,
                change.source.commit,
                spec.context,
                spec.dockerfile,
                oci_labels(change, repo.url),
                inline_labels=spec.target is None,
                workdir=self.settings.workdir / "contexts",
                max_bytes=self.settings.builder.max_context_bytes,
                what=f"service {change.service} ({spec.context or '.'}/)",
            ) as context,
            BuildLog(path, title) as log,
        ):
            try:
                return self.engine.build_and_push(
                    context.tar,
                    spec.dockerfile,
                    spec.image_repository,
                    spec.tags,
                    context.labels,
                    login,
                    build_args=spec.build_args,
                    target=spec.target,
                    network=spec.network,
                    cache_from=sources,
                    on_line=log.write,
                    timeout=self.settings.builder.timeout_seconds,
                    interrupt=watch,
                    retag=retag,
                )
            except BuildInterrupted as exc:
                if exc.reason == SUPERSEDED and watch.newer is not None:
                    log.write(f"superseded by {watch.newer.commit[:7]} (run {watch.newer.run_id})")
                    return watch.newer
                if exc.reason == LEASE_LOST:
                    log.write("the build lease went to another builder: this build stops")
                    raise TransientError(_lease_lost(spec, change)) from None
                raise PermanentError(failure_message(str(exc), str(path), log.tail())) from None
            except TransientError as exc:
                raise TransientError(failure_message(str(exc), str(path), log.tail())) from None
            except PermanentError as exc:
                raise PermanentError(failure_message(str(exc), str(path), log.tail())) from None


def _check_commit(mirror: Mirror, source: Source) -> None:
    """The image's revision label and `sha-` tag name the commit, never an annotated tag's
    object (the detector peels it; a hand-published event may not have)."""
    commit = mirror.resolve(source.commit)
    if commit is not None and commit != source.commit:
        raise PermanentError(
            f"{source.commit} in {source.repository} is a tag object, not a commit: publish "
            f"the commit it tags, {commit}"
        )


def _check_ref(mirror: Mirror, repo: Repository, source: Source) -> None:
    """`latest` and version tags only for a commit its ref names: the tag points at it, or
    the branch contains it. The mirror is fetched again before refusing (the ref may be new)."""
    kind, _ = parse_ref(source.ref)

    def named() -> bool:
        if kind == "tag":  # an annotated tag's ref is peeled to the commit it tags
            return mirror.resolve(source.ref) == source.commit
        return mirror.is_ancestor(source.commit, source.ref)

    if named():
        return
    mirror.fetch()
    if not named():
        raise PermanentError(
            f"{source.ref!r} of {repo.name} does not name {source.short_sha}: refused (its image "
            "tags follow the ref)"
        )


def _lease_lost(spec: BuildSpec, change: ChangeDetected) -> str:
    return (
        f"another builder took the build of {spec.image_repository} at "
        f"{change.source.short_sha} after Redis lost this one's lease: retried, the retry "
        "waits for it and takes its image"
    )


class _Interrupt:
    """Asked by the engine's watchdog while building (and once more right before a push):
    keeps the lease, spots a newer build. Renewed at every question, so a lease Redis lost is
    taken back within one watch interval, before a second builder can get it."""

    def __init__(self, coordinator: Coordinator, change: ChangeDetected, lease: Lease) -> None:
        self._coordinator = coordinator
        self._change = change
        self._lease = lease
        self.newer: Newer | None = None

    def __call__(self) -> str | None:
        if not self._lease.renew():
            return LEASE_LOST
        self.newer = self._coordinator.newer_than(self._change)
        return SUPERSEDED if self.newer is not None else None
