"""Which services a push rebuilds, and with which tags. Pure: git facts come in as data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from services.common.events import ZERO_SHA, ChangeDetected, Envelope, PushReceived, Source
from services.common.git import CommitInfo
from services.common.image_tags import image_tags
from services.common.image_tags import parse_ref as parse_ref  # imported from here too
from services.common.project import Entries, Project
from services.detector.paths import affected

SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[skip shipline]")
COMMIT_SCAN_LIMIT = 1000  # a push with more new commits than this is never all the bot's
Reason = Literal["paths", "dependency", "forced", "release"]


@dataclass(frozen=True)
class Skip:
    """The push builds nothing, and why."""

    reason: str


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
    previous: Sequence[Entries | None] = (),
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
    previous: Sequence[Entries | None] = (),
) -> list[ChangeDetected] | Skip:
    """The builds a push causes, as events (see plan)."""
    builds = plan(push, project, changed_paths, commits, bot_email, previous)
    if isinstance(builds, Skip):
        return builds
    return changes_for(push, project, builds, default_branch)


def changes_for(
    push: PushReceived, project: Project, builds: Plan, default_branch: str
) -> list[ChangeDetected]:
    """A plan's builds, as events."""
    kind, name = parse_ref(push.ref)
    tags = image_tags(push.after, kind, name, default_branch)
    source = Source(repository=push.repository, commit=push.after, ref=push.ref)
    return [
        change_event(push, project, service, source, tags, reason, paths)
        for service, (reason, paths) in sorted(builds.items())
    ]
