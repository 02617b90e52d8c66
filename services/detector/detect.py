"""Which services a push rebuilds, and with which tags. Pure: git facts come in as data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from services.common.events import ZERO_SHA, ChangeDetected, Envelope, PushReceived, Source
from services.common.git import CommitInfo
from services.common.project import Project
from services.detector.paths import affected

SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[skip shipline]")
COMMIT_SCAN_LIMIT = 1000  # a push with more new commits than this is never all the bot's
Reason = Literal["paths", "dependency", "forced", "release"]


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


def is_release(tag: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(tag, pattern) for pattern in patterns)


def is_pipeline_commit(commit: CommitInfo, bot_email: str) -> bool:
    message = commit.message.lower()
    return commit.author_email.lower() == bot_email.lower() or any(
        marker in message for marker in SKIP_MARKERS
    )


def only_pipeline_commits(commits: Sequence[CommitInfo], bot_email: str) -> bool:
    """True when every new commit is the pipeline's own or asks to be skipped."""
    if not commits or len(commits) >= COMMIT_SCAN_LIMIT:
        return False
    return all(is_pipeline_commit(commit, bot_email) for commit in commits)


def change_event(
    cause: Envelope,
    project: Project,
    service: str,
    source: Source,
    tags: tuple[str, ...],
    reason: Reason,
    paths: tuple[str, ...] = (),
) -> ChangeDetected:
    spec = project.services[service]
    return ChangeDetected(
        event_id=cause.follow_up_id("ChangeDetected", service),
        run_id=cause.run_id,
        service=service,
        source=source,
        context=spec.build_context(),
        dockerfile=spec.dockerfile_in_context(),
        image_repository=project.image_repository(service),
        tags=tags,
        reason=reason,
        changed_paths=paths,
        build_args=spec.build_args,
        target=spec.target,
    )


Plan = dict[str, tuple[Reason, tuple[str, ...]]]  # service → why, and the paths that caused it


def plan(
    push: PushReceived,
    project: Project,
    changed_paths: Sequence[str],
    commits: Sequence[CommitInfo],
    bot_email: str,
    previous: Sequence[Project | None] = (),
) -> Plan | Skip:
    """Which services a push rebuilds and why, or why it rebuilds none.

    `changed_paths` and `commits` are what git says differs between the push's base and
    `after`; `previous` is shipline.yaml at that base (see services.detector.paths.affected).
    """
    if push.after == ZERO_SHA:
        return Skip("the ref was deleted")
    kind, name = parse_ref(push.ref)
    if kind == "tag":
        if not is_release(name, project.release_tags):
            patterns = ", ".join(project.release_tags) or "none configured"
            return Skip(f"tag {name} is not a release tag ({patterns})")
        return {service: ("release", ()) for service in project.services}
    if only_pipeline_commits(commits, bot_email):
        return Skip("only pipeline or [skip ci] commits")
    manifests_here = project.gitops.repository in (None, push.repository)
    result = affected(project, changed_paths, previous, manifests_here)
    if isinstance(result, str):
        return Skip(result)
    return {
        service: (trigger.reason, trigger.paths(result.shared))
        for service, trigger in result.triggers.items()
    }


def detect(
    push: PushReceived,
    project: Project,
    changed_paths: Sequence[str],
    commits: Sequence[CommitInfo],
    default_branch: str,
    bot_email: str,
    previous: Sequence[Project | None] = (),
) -> list[ChangeDetected] | Skip:
    """The builds a push causes, as events (see plan)."""
    builds = plan(push, project, changed_paths, commits, bot_email, previous)
    if isinstance(builds, Skip):
        return builds
    kind, name = parse_ref(push.ref)
    tags = image_tags(push.after, kind, name, default_branch)
    source = Source(repository=push.repository, commit=push.after, ref=push.ref)
    return [
        change_event(push, project, service, source, tags, reason, paths)
        for service, (reason, paths) in sorted(builds.items())
    ]
