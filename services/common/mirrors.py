"""The mirror of a configured repository, with its credentials, and the shipline.yaml a
commit of it holds: what every stage reads before it acts on a repository."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Protocol

from services.common.errors import PermanentError
from services.common.events import Source
from services.common.git import Mirror
from services.common.git_auth import git_env
from services.common.project import PROJECT_FILE, Project, parse_project
from services.common.repository_settings import GitopsRepository, Repository
from services.common.settings import Settings


class FileReader(Protocol):
    def read_file(self, commit: str, path: str) -> bytes | None: ...


def mirror_of(settings: Settings, remote: Repository | GitopsRepository) -> Mirror:
    """The shared mirror of a configured repository, fetched with its credentials."""
    env = git_env(remote.credentials, settings.workdir / "keys")
    return Mirror(remote.url, settings.workdir / "mirrors", env=env)


def project_at(
    git: FileReader, repository: str, commit: str, max_bytes: int | None = None
) -> Project:
    """shipline.yaml at a commit, or ConfigError naming the repository, commit and key (or
    that the file is over `max_bytes`)."""
    text = project_file(git, commit)
    if text is None:
        raise PermanentError(f"{repository}@{commit[:7]}: {PROJECT_FILE} is missing")
    return parse_project(text, f"{repository}@{commit[:7]}:{PROJECT_FILE}", max_bytes)


def source_project(settings: Settings, source: Source) -> Project:
    """shipline.yaml at the commit an event is about, from its repository's mirror."""
    repo = settings.repository(source.repository)
    if repo is None:
        raise PermanentError(f"repository {source.repository} is not configured")
    mirror = mirror_of(settings, repo)
    mirror.fetch(unless_present=source.commit)
    return project_at(mirror, repo.name, source.commit, settings.limits.project_file_bytes)


_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_PROJECT_FILES: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()
_KEPT, _KEPT_BYTES = 64, 65_536  # at most 4 MiB kept
_LOCK = threading.Lock()


def project_file(git: FileReader, commit: str) -> bytes | None:
    """shipline.yaml at `commit`, read once per mirror and commit in a process (a commit's
    files never change: the committer's admission and its target read the same one)."""
    if not isinstance(git, Mirror) or not _FULL_SHA.fullmatch(commit):
        return git.read_file(commit, PROJECT_FILE)
    key = (str(git.path), commit)
    with _LOCK:
        if key in _PROJECT_FILES:
            _PROJECT_FILES.move_to_end(key)
            return _PROJECT_FILES[key]
    text = git.read_file(commit, PROJECT_FILE)  # a failure raises: nothing kept
    if text is not None and len(text) > _KEPT_BYTES:
        return text  # an outsized file is refused by the parser, never kept here
    with _LOCK:
        _PROJECT_FILES[key] = text
        if len(_PROJECT_FILES) > _KEPT:
            _PROJECT_FILES.popitem(last=False)
    return text
