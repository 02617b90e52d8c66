"""Detector stage: PushReceived → one ChangeDetected per changed service."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.errors import PermanentError
from services.common.events import ZERO_SHA, Envelope, PushReceived
from services.common.git import Mirror
from services.common.project import PROJECT_FILE, parse_project
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition
from services.detector.detect import Skip, detect


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings

    def handle(push: Envelope) -> Sequence[Envelope]:
        assert isinstance(push, PushReceived)
        repo = settings.repository(push.repository)
        if repo is None:
            raise PermanentError(f"repository {push.repository} is not configured")
        mirror = Mirror(repo.url, settings.workdir / "mirrors")
        if push.after != ZERO_SHA:
            mirror.fetch()
            if not mirror.has_commit(push.after):
                raise PermanentError(f"commit {push.after} is not in {repo.name}")
            text = mirror.read_file(push.after, PROJECT_FILE)
            if text is None:
                raise PermanentError(f"{PROJECT_FILE} is missing at {push.after[:7]}")
            project = parse_project(text, origin=f"{repo.name}@{push.after[:7]}:{PROJECT_FILE}")
            changed = mirror.changed_paths(push.before, push.after)
            commits = mirror.commits(push.before, push.after)
            result = detect(
                push, project, changed, commits, repo.default_branch, settings.bot.email
            )
        else:
            result = Skip("the ref was deleted")
        if isinstance(result, Skip):
            return (runtime.runs.finish_empty(push, result.reason),)
        runtime.runs.plan(push.run_id, [event.service for event in result])
        return result

    return handle


STAGE = StageDefinition(name="detector", consumes=(PushReceived,), factory=make_handler)
