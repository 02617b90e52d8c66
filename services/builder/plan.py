"""The builder's decisions, pure: what to build (from shipline.yaml, never from the event),
labels, cache sources, "already built?", the events it emits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.errors import PermanentError
from services.common.events import BuildSuperseded, ChangeDetected, ImagePushed
from services.common.git import redact
from services.common.image_tags import commit_tag, image_tags, parse_ref
from services.common.project import Project

REVISION = "org.opencontainers.image.revision"
LATEST = "latest"
SHOWN_VALUE = 120  # characters of a refused event value quoted in the error


@dataclass(frozen=True)
class BuildSpec:
    """What one ChangeDetected builds: the service's entry in shipline.yaml at the commit,
    and the tags its ref gives."""

    image_repository: str
    context: str
    dockerfile: str
    tags: tuple[str, ...]
    build_args: Mapping[str, str]
    target: str | None
    network: bool = False
    # Tags beyond the commit's own (`latest`, a version): true only if the ref names the commit.
    tags_from_ref: bool = False


def build_spec(change: ChangeDetected, project: Project, default_branch: str) -> BuildSpec:
    """The build shipline.yaml configures for the change's service, or PermanentError naming
    the event field that disagrees with it (an event never chooses what is built or where)."""
    where = f"shipline.yaml at {change.source.short_sha}"
    service = project.services.get(change.service)
    if service is None:
        raise PermanentError(f"service {change.service} is not in {where}: refused")
    tags = _tags(change, default_branch)
    spec = BuildSpec(
        image_repository=project.image_repository(change.service),
        context=service.build_context(),
        dockerfile=service.dockerfile_in_context(),
        tags=tags,
        build_args=dict(service.build_args),
        target=service.target,
        network=service.network,
        tags_from_ref=tags != (commit_tag(change.source.commit),),
    )
    sent = {
        "image_repository": change.image_repository,
        "context": change.context,
        "dockerfile": change.dockerfile,
        "build_args": change.build_args,
        "target": change.target,
    }
    for name, value in sent.items():
        configured = getattr(spec, name)
        if value != configured:
            raise PermanentError(
                f"ChangeDetected.{name} {_shown(value)} is not what {where} configures for "
                f"{change.service} ({_shown(configured)}): refused"
            )
    return spec


def _tags(change: ChangeDetected, default_branch: str) -> tuple[str, ...]:
    """The event's tags when the ref gives exactly those, or the commit tag alone (a build
    asked for at a commit); anything else is refused."""
    commit = change.source.commit
    allowed: list[tuple[str, ...]] = [(commit_tag(commit),)]
    if change.source.ref:
        try:
            kind, name = parse_ref(change.source.ref)
        except ValueError:
            raise PermanentError(
                f"ChangeDetected.source.ref {_shown(change.source.ref)} is not a branch or tag ref"
            ) from None
        allowed.insert(0, image_tags(commit, kind, name, default_branch))
    if change.tags not in allowed:
        raise PermanentError(
            f"ChangeDetected.tags {_shown(list(change.tags))} are not what the ref "
            f"{_shown(change.source.ref)} gives ({_shown(list(allowed[0]))}): refused"
        )
    return change.tags


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE else text[: SHOWN_VALUE - 3] + "..."


def oci_labels(change: ChangeDetected, source_url: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.source": redact(source_url),
        REVISION: change.source.commit,
        "org.opencontainers.image.created": datetime.now(UTC).isoformat(timespec="seconds"),
        "org.opencontainers.image.version": change.tags[0],
        "org.opencontainers.image.title": change.service,
    }


def already_built(labels: Mapping[str, str] | None, change: ChangeDetected) -> bool:
    """The registry's image under the change's first tag was built from the change's commit."""
    return labels is not None and labels.get(REVISION) == change.source.commit


def cache_sources(change: ChangeDetected, last_tag: str | None) -> list[str]:
    """Earlier images of the service, best first: the branch's last push, then `latest`."""
    candidates = [last_tag, LATEST]
    tags = [t for t in dict.fromkeys(candidates) if t and t != change.tags[0]]
    return [f"{change.image_repository}:{tag}" for tag in tags]


def image_pushed(
    change: ChangeDetected, digest: str, seconds: float, cached: bool = False
) -> ImagePushed:
    return ImagePushed(
        event_id=change.follow_up_id("ImagePushed"),
        run_id=change.run_id,
        service=change.service,
        source=change.source,
        image_repository=change.image_repository,
        tags=change.tags,
        digest=digest,
        build_seconds=round(seconds, 3),
        cached=cached,
    )


def superseded(change: ChangeDetected, newer_commit: str, newer_run_id: str) -> BuildSuperseded:
    return BuildSuperseded(
        event_id=change.follow_up_id("BuildSuperseded"),
        run_id=change.run_id,
        service=change.service,
        source=change.source,
        newer_commit=newer_commit,
        newer_run_id=newer_run_id,
    )


def failure_message(error: str, log_path: str, tail: str) -> str:
    """An error, where the whole build log is, and its last lines (the StageFailed message)."""
    head = error.splitlines()[0] if error else "build failed"
    message = f"{head}\nbuild log: {log_path}"
    return f"{message}\n--- last lines ---\n{tail}" if tail else message
