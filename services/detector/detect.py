"""Which services a push rebuilds, and with which tags. Pure: git facts come in as data."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.events import ZERO_SHA, ChangeDetected, PushReceived, Source
from services.common.git import CommitInfo
from services.common.project import Project

SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[skip shipline]")


@dataclass(frozen=True)
class Skip:
    """The push builds nothing, and why."""

    reason: str


def parse_ref(ref: str) -> tuple[str, str]:
    """('branch', name) or ('tag', name); ValueError for anything else."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return kind, ref[len(prefix) :]
    raise ValueError(f"unsupported ref {ref!r}: expected refs/heads/* or refs/tags/*")


def docker_tag(name: str) -> str:
    """A git tag as a valid image tag: `release/1.2` → `release-1.2`, at most 128 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip(".-")
    if not cleaned:
        raise ValueError(f"tag {name!r} cannot be turned into an image tag")
    return cleaned[:128]


def image_tags(commit: str, kind: str, name: str, default_branch: str) -> tuple[str, ...]:
    if kind == "tag":
        return (docker_tag(name),)
    tags = [f"sha-{commit[:7]}"]
    if name == default_branch:
        tags.append("latest")
    return tuple(tags)


def only_pipeline_commits(commits: list[CommitInfo], bot_email: str) -> bool:
    """True when every pushed commit is the pipeline's own or asks to be skipped."""
    return bool(commits) and all(
        c.author_email == bot_email or any(m in c.message for m in SKIP_MARKERS) for c in commits
    )


def detect(
    push: PushReceived,
    project: Project,
    changed_paths: list[str],
    commits: list[CommitInfo],
    default_branch: str,
    bot_email: str,
) -> list[ChangeDetected] | Skip:
    if push.after == ZERO_SHA:
        return Skip("the ref was deleted")
    kind, name = parse_ref(push.ref)
    if kind == "branch" and only_pipeline_commits(commits, bot_email):
        return Skip("only pipeline or [skip ci] commits")
    source = Source(repository=push.repository, commit=push.after, ref=push.ref)
    tags = image_tags(push.after, kind, name, default_branch)
    events = []
    for service, spec in sorted(project.services.items()):
        paths: tuple[str, ...] = ()
        if kind == "tag":
            reason = "release"
        else:
            hits = [(p, spec.watches(p)) for p in changed_paths]
            paths = tuple(p for p, why in hits if why)
            if not paths:
                continue
            reason = "paths" if any(why == "paths" for _, why in hits) else "dependency"
        events.append(
            ChangeDetected(
                event_id=push.follow_up_id("ChangeDetected", service),
                run_id=push.run_id,
                service=service,
                source=source,
                context=spec.build_context(),
                dockerfile=spec.dockerfile_in_context(),
                image_repository=project.image_repository(service),
                tags=tags,
                reason=reason,  # type: ignore[arg-type]
                changed_paths=paths[:100],
            )
        )
    return events or Skip("no service changed")
