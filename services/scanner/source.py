"""The shipline.yaml of the commit an image was built from: it holds the service's policy."""

from __future__ import annotations

from services.common.errors import PermanentError
from services.common.events import Source
from services.common.git import Mirror
from services.common.project import PROJECT_FILE, Project, parse_project
from services.common.settings import Settings


def project_at(settings: Settings, source: Source) -> Project:
    """Parsed from the repository mirror; ConfigError names the file and the key."""
    repo = settings.repository(source.repository)
    if repo is None:
        raise PermanentError(f"repository {source.repository} is not configured")
    mirror = Mirror(repo.url, settings.workdir / "mirrors")
    mirror.fetch(unless_present=source.commit)
    text = mirror.read_file(source.commit, PROJECT_FILE)
    if text is None:
        raise PermanentError(f"{PROJECT_FILE} is missing at {source.short_sha}")
    return parse_project(text, origin=f"{repo.name}@{source.short_sha}:{PROJECT_FILE}")
