"""The committer's working copy of one branch of the gitops repository.

Files are read and written through services/common/safe_files.py: the working tree holds
whatever the repository's writers committed, symbolic links included, and a manifest or
changelog path that is (or lies under) a link is refused instead of followed out of the
checkout. Branch names, revisions and paths are checked before they reach git
(services/common/git_args.py); paths follow `--` and are taken literally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import git

from services.common import safe_files
from services.common.errors import TransientError
from services.common.git import (
    LOG_FORMAT,
    CommitInfo,
    commit_records,
    redact,
    slug,
    translate,
)
from services.common.git_args import LITERAL_PATHSPECS, revision
from services.common.git_args import branch as valid_branch
from services.common.git_args import path as valid_path
from services.common.git_args import pathspec as valid_pathspec
from services.common.git_trees import tree_entry


class PushRejected(TransientError):
    """The remote moved on while we committed; fetch, re-apply and try again."""


class Checkout:
    """The committer's working copy of one branch of the gitops repository."""

    def __init__(
        self, url: str, branch: str, work_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        """`env`: extra git environment, e.g. credentials from services/common/git_auth.py."""
        self.url = url
        self.branch = valid_branch(branch)
        self.path = work_dir / f"{slug(url)}-{hashlib.sha256(branch.encode()).hexdigest()[:8]}"
        self._env = dict(env or {})
        self._where = f"the gitops checkout of {redact(url)} ({branch})"

    def _git(self, *args: str, **env: str) -> str:
        """One git command in the checkout (the CLI: GitPython's index chdirs, not thread-safe)."""
        with git.Repo(self.path) as repo, repo.git.custom_environment(**self._env, **env):
            return str(repo.git.execute(["git", *args]))

    def sync(self) -> str:
        """Fetch and hard-reset to the remote branch head; returns the head sha."""
        remote_ref = f"origin/{self.branch}"
        try:
            if not (self.path / ".git").exists():
                git.Repo.clone_from(
                    self.url, self.path, branch=self.branch, env=self._env or None
                ).close()
            self._git("fetch", "origin", f"+refs/heads/{self.branch}:refs/remotes/{remote_ref}")
            # --force -B: the branch, index and tracked files become the remote head's (local
            # commits, staged and unstaged edits dropped: what `reset --hard` would add)
            self._git("checkout", "--force", "-B", self.branch, remote_ref, "--")
            self._git("clean", "-fdx")
            return self._git("rev-parse", "HEAD")
        except git.GitCommandError as exc:
            raise translate(exc, f"sync of {redact(self.url)} {self.branch}") from None

    def contains(self, commit: str) -> bool:
        """Whether `commit` is on the branch as last synced (False: unknown, or elsewhere)."""
        revision(commit)
        try:
            self._git("merge-base", "--is-ancestor", commit, "HEAD")
        except git.GitCommandError:
            return False
        return True

    def last_commit_touching(self, path: str) -> str:
        valid_pathspec(path, self._where)
        return self._git(LITERAL_PATHSPECS, "log", "-1", "--format=%H", "--", path)

    def log(self, path: str, grep: str | None = None, limit: int = 200) -> list[CommitInfo]:
        """Commits of the branch that changed `path`, newest first; `grep`: an extended
        regular expression one line of the message must match."""
        options = [f"--max-count={int(limit)}", LOG_FORMAT]
        if grep:
            options += ["--extended-regexp", f"--grep={grep}"]
        valid_pathspec(path, self._where)
        try:
            output = self._git(LITERAL_PATHSPECS, "log", *options, "HEAD", "--", path)
        except git.GitCommandError as exc:
            raise translate(exc, f"log of {path}") from None
        return commit_records(output)

    def read_at(self, commit: str, path: str) -> str | None:
        """The file as it was at `commit`, byte for byte (None: not there). UnsafePath when
        it, or a directory on its way, was a symbolic link in that commit."""
        revision(commit)
        try:
            entry = tree_entry(self._git, commit, path, self._where)
            if entry is None or entry.kind != "blob":
                return None
            with git.Repo(self.path) as repo:
                data: bytes = repo.git.execute(
                    ["git", "cat-file", "blob", entry.sha],
                    stdout_as_string=False,
                    strip_newline_in_stdout=False,
                )
        except git.GitCommandError:
            return None  # no such commit
        return data.decode()

    def read(self, path: str) -> str | None:
        """The file in the working tree (None: not there); never through a symbolic link."""
        data = safe_files.read_bytes(self.path, path, self._where)
        return None if data is None else data.decode()  # keeps CRLF

    def write(self, path: str, text: str) -> None:
        """Write the file in the working tree; never through a symbolic link."""
        safe_files.write_bytes(self.path, valid_path(path, self._where), text.encode(), self._where)

    def commit_and_push(
        self, paths: list[str], message: str, name: str, email: str, *, to: str | None = None
    ) -> str:
        """`to`: force-push the commit to that branch (a pull request's head) instead of
        pushing the checkout's branch."""
        identity = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        for path in paths:
            valid_path(path, self._where)
        try:
            self._git(LITERAL_PATHSPECS, "add", "--", *paths)
            self._git("commit", "--no-verify", "-m", message, **identity)
            sha = self._git("rev-parse", "HEAD")
            if to is not None:
                self._git("push", "--force", "origin", f"HEAD:refs/heads/{valid_branch(to)}")
            else:
                self._git("push", "origin", f"HEAD:refs/heads/{self.branch}")
        except git.GitCommandError as exc:
            detail = str(exc.stderr or "")
            if "rejected" in detail or "fetch first" in detail or "non-fast-forward" in detail:
                raise PushRejected(f"push to {self.branch} rejected: the branch moved") from None
            raise translate(exc, f"push to {redact(self.url)} {self.branch}") from None
        return sha
