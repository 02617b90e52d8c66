"""Does the revision Argo CD synced contain the commit? Answered from a mirror of the gitops
repository (fetched only when the revision is not there yet), and remembered: a revision's
ancestry never changes."""

from __future__ import annotations

import threading

from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.mirrors import mirror_of
from services.common.settings import Settings


class Revisions:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._known: dict[tuple[str, str, str], bool] = {}
        self._lock = threading.Lock()

    def contains(self, repository: str, commit: str, revision: str) -> bool:
        """True when `revision` of the gitops `repository` is `commit` or a descendant of it."""
        if revision == commit:
            return True
        key = (repository, commit, revision)
        with self._lock:  # one git process at a time per verifier process: they share a mirror
            if key not in self._known:
                mirror = self._mirror(repository)
                mirror.fetch(unless_present=revision)
                self._known[key] = mirror.is_ancestor(commit, revision)
            return self._known[key]

    def _mirror(self, repository: str) -> Mirror:
        remote = self._settings.git_remote(repository)
        if remote is None:
            raise PermanentError(f"gitops repository {repository} is not configured")
        return mirror_of(self._settings, remote)
