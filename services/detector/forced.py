"""Forced rebuilds: the services a person asked for, at the commit they named, changed or not."""

from __future__ import annotations

from services.common.errors import PermanentError
from services.common.events import BuildRequested, ChangeDetected, Source
from services.common.image_tags import commit_tag, image_tags, parse_ref
from services.common.project import Project
from services.detector.detect import change_event


def forced(
    request: BuildRequested, commit: str, project: Project, default_branch: str
) -> list[ChangeDetected]:
    """One ChangeDetected (reason `forced`) per requested service, at `commit`.

    Tags follow the ref when the commit is what the ref names (`latest` for the default
    branch's head, the version for a tag); a bare commit gets `sha-<7>` only.
    """
    unknown = sorted(set(request.services) - set(project.services))
    if unknown:
        known = ", ".join(sorted(project.services))
        raise PermanentError(
            f"no service {', '.join(unknown)} in shipline.yaml at {commit[:7]} (known: {known})"
        )
    if request.ref is not None and request.commit is None:
        kind, name = parse_ref(request.ref)
        tags = image_tags(commit, kind, name, default_branch)
    else:
        tags = (commit_tag(commit),)
    source = Source(repository=request.repository, commit=commit, ref=request.ref or "")
    return [
        change_event(request, project, service, source, tags, "forced")
        for service in sorted(set(request.services))
    ]
