"""Git, through GitPython: the one module that touches repositories.

A :class:`Mirror` is a bare cache of a configured repository that the detector and the
builder read commits from; a :class:`Checkout` is the committer's working copy of the
gitops branch. Git errors become TransientError (network, lock, push race) or
PermanentError (missing commit, bad path); URLs in messages lose their credentials.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git

from services.common.errors import PermanentError, TransientError

ZERO_SHA = "0" * 40
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """Drop user:password@ from any URL in the text."""
    return _CREDENTIALS.sub("***@", text)


_LOG_FORMAT = "--format=%H%x00%ae%x00%B%x1e"


def _commit_records(output: str) -> list[CommitInfo]:
    records = [r.strip("\n") for r in output.split("\x1e") if r.strip()]
    return [CommitInfo(*record.split("\x00", 2)) for record in records]


class PushRejected(TransientError):
    """The remote moved on while we committed; fetch, re-apply and try again."""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author_email: str
    message: str


@contextlib.contextmanager
def _file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _slug(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _translate(exc: git.GitCommandError, doing: str) -> Exception:
    detail = redact(str(exc.stderr or exc).strip())[-800:]
    transient = any(
        word in detail.lower()
        for word in ("could not resolve", "timed out", "connection", "unable to access", ".lock")
    )
    error = TransientError if transient else PermanentError
    return error(f"git {doing} failed: {detail}")


class Mirror:
    """A bare, fetch-only cache of one repository, safe to share between processes."""

    def __init__(self, url: str, cache_dir: Path, env: Mapping[str, str] | None = None) -> None:
        """`env`: extra git environment, e.g. credentials from services/common/git_auth.py."""
        self.url = url
        self.path = cache_dir / f"{_slug(url)}.git"
        self._lock = cache_dir / f"{_slug(url)}.lock"
        self._env = dict(env or {})

    def fetch(self, unless_present: str | None = None) -> None:
        """Fetch every ref; with `unless_present`, not when that commit is (or meanwhile got)
        here: concurrent builders of one push then fetch once between them. The check holds
        the lock shared, so it never sees a fetch half done (small fetches land as loose
        objects one by one: a commit before its trees)."""
        if unless_present is not None:
            with _file_lock(self._lock, shared=True):
                if self.has_commit(unless_present):
                    return
        with _file_lock(self._lock):
            if unless_present is not None and self.has_commit(unless_present):
                return
            try:
                if not (self.path / "HEAD").exists():
                    git.Repo.clone_from(
                        self.url, self.path, bare=True, mirror=True, env=self._env or None
                    )
                else:
                    with git.Repo(self.path) as repo, repo.git.custom_environment(**self._env):
                        repo.git.fetch("--prune", "origin", "+refs/*:refs/*")
                # Generation numbers keep ancestry checks and range walks cheap as history grows.
                self._git("commit-graph", "write", "--reachable", "--split")
            except git.GitCommandError as exc:
                raise _translate(exc, f"fetch of {redact(self.url)}") from None

    def _git(self, *args: str, **kwargs: Any) -> Any:
        """Run one git command in the mirror (no Repo object: it would parse the config first)."""
        return git.Git(self.path).execute(["git", *args], **kwargs)

    def has_commit(self, sha: str) -> bool:
        if sha == ZERO_SHA or not (self.path / "HEAD").exists():
            return False
        try:
            self._git("cat-file", "-e", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return True

    def changed_paths(self, before: str, after: str) -> list[str]:
        try:
            if before == ZERO_SHA or not self.has_commit(before):
                output = self._git("ls-tree", "-r", "--name-only", after)
            else:
                output = self._git("diff", "--name-only", "--no-renames", before, after)
        except git.GitCommandError as exc:
            raise _translate(exc, "diff") from None
        return [line for line in output.splitlines() if line]

    def commits(self, before: str, after: str) -> list[CommitInfo]:
        base = None if before == ZERO_SHA or not self.has_commit(before) else before
        return self.log(base, after)

    def log(self, base: str | None, after: str, limit: int | None = None) -> list[CommitInfo]:
        """Commits in `after` and not in `base` (all of them when None), newest first."""
        spec = f"{base}..{after}" if base else after
        options = [f"--max-count={limit}"] if limit else []
        try:
            output = self._git("log", _LOG_FORMAT, *options, spec, "--")
        except git.GitCommandError as exc:
            raise _translate(exc, "log") from None
        return _commit_records(output)

    def fast_forward(self, before: str, after: str) -> CommitInfo | None:
        """`after`'s commit when `after` descends from `before` (a fast-forward), else None.

        One walk answers the two questions a push raises first: did it only add commits,
        and who made the newest one. None too when `before` is unknown or equals `after`.
        """
        if before == after or ZERO_SHA in (before, after):
            return None
        spec = f"{before}..{after}"
        try:
            output = self._git("log", "-1", "--topo-order", "--ancestry-path", _LOG_FORMAT, spec)
        except git.GitCommandError as exc:
            if exc.status == 128:  # `before` is not a commit git knows
                return None
            raise _translate(exc, "log") from None
        newest = _commit_records(output)
        return newest[0] if newest and newest[0].sha == after else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when `ancestor` exists and `descendant` contains it (a fast-forward)."""
        if ancestor == ZERO_SHA:
            return False
        try:
            self._git("merge-base", "--is-ancestor", ancestor, descendant)
        except git.GitCommandError as exc:
            if exc.status in (1, 128):  # 1: not an ancestor; 128: no such commit
                return False
            raise _translate(exc, "merge-base") from None
        return True

    def merge_base(self, first: str, second: str) -> str | None:
        """The best common ancestor, or None for unrelated histories or a missing commit."""
        if ZERO_SHA in (first, second):
            return None
        try:
            return str(self._git("merge-base", first, second)).strip() or None
        except git.GitCommandError as exc:
            if exc.status in (1, 128):
                return None
            raise _translate(exc, "merge-base") from None

    def resolve(self, ref: str) -> str | None:
        """The commit a ref (or sha) names in the mirror, or None."""
        try:
            output = self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except git.GitCommandError:
            return None
        return str(output).strip() or None

    def diff_paths(self, base: str, after: str) -> list[str]:
        """Paths whose content differs between two trees (a rename lists both paths)."""
        try:
            output = self._git("diff", "--name-only", "--no-renames", "-z", base, after, "--")
        except git.GitCommandError as exc:
            raise _translate(exc, f"diff {base[:7]}..{after[:7]}") from None
        return [path for path in str(output).split("\x00") if path]

    def tree_paths(self, commit: str) -> list[str]:
        """Every file path in a commit's tree."""
        try:
            output = self._git("ls-tree", "-r", "-z", "--name-only", commit)
        except git.GitCommandError as exc:
            raise _translate(exc, f"ls-tree {commit[:7]}") from None
        return [path for path in str(output).split("\x00") if path]

    def previous_tag(self, commit: str, patterns: Sequence[str]) -> str | None:
        """The nearest tag matching one of `patterns` (globs) in `commit`'s ancestry,
        `commit` itself excluded; None when there is none."""
        matches = [f"--match={pattern}" for pattern in patterns]
        try:
            output = self._git("describe", "--tags", "--abbrev=0", *matches, f"{commit}^")
        except git.GitCommandError:
            return None  # no such tag, or a root commit
        return str(output).strip() or None

    def read_file(self, commit: str, path: str) -> bytes | None:
        if not self.has_commit(commit):
            raise PermanentError(f"commit {commit} not found in {redact(self.url)}")
        try:
            data: bytes = self._git(
                "cat-file",
                "blob",
                f"{commit}:{path}",
                stdout_as_string=False,
                strip_newline_in_stdout=False,
            )
        except git.GitCommandError:
            return None  # no such path, or a directory
        return data

    def archive(self, commit: str, directory: str) -> bytes:
        """A tar of `directory` at `commit`, rooted at that directory (a docker build context)."""
        treeish = f"{commit}:{directory}" if directory else commit
        try:
            with_output: bytes = self._git(
                "archive",
                "--format=tar",
                treeish,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
            )
        except git.GitCommandError as exc:
            raise _translate(exc, f"archive of {directory or '/'} at {commit[:7]}") from None
        return with_output


class Checkout:
    """The committer's working copy of one branch of the gitops repository."""

    def __init__(
        self, url: str, branch: str, work_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        """`env`: extra git environment, e.g. credentials from services/common/git_auth.py."""
        self.url = url
        self.branch = branch
        self.path = work_dir / f"{_slug(url)}-{hashlib.sha256(branch.encode()).hexdigest()[:8]}"
        self._env = dict(env or {})

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
            self._git("checkout", "--force", "-B", self.branch, remote_ref)
            self._git("reset", "--hard", remote_ref)
            self._git("clean", "-fdx")
            return self._git("rev-parse", "HEAD")
        except git.GitCommandError as exc:
            raise _translate(exc, f"sync of {redact(self.url)} {self.branch}") from None

    def last_commit_touching(self, path: str) -> str:
        return self._git("log", "-1", "--format=%H", "--", path)

    def log(self, path: str, grep: str | None = None, limit: int = 200) -> list[CommitInfo]:
        """Commits of the branch that changed `path`, newest first; `grep`: an extended
        regular expression one line of the message must match."""
        options = [f"--max-count={limit}", "--format=%H%x00%ae%x00%B%x1e"]
        if grep:
            options += ["--extended-regexp", f"--grep={grep}"]
        try:
            output = self._git("log", *options, "HEAD", "--", path)
        except git.GitCommandError as exc:
            raise _translate(exc, f"log of {path}") from None
        records = [r.strip("\n") for r in output.split("\x1e") if r.strip()]
        return [CommitInfo(*record.split("\x00", 2)) for record in records]

    def read_at(self, commit: str, path: str) -> str | None:
        """The file as it was at `commit`, byte for byte (None: not there)."""
        try:
            with git.Repo(self.path) as repo:
                data: bytes = repo.git.execute(
                    ["git", "cat-file", "blob", f"{commit}:{path}"],
                    stdout_as_string=False,
                    strip_newline_in_stdout=False,
                )
        except git.GitCommandError:
            return None
        return data.decode()

    def read(self, path: str) -> str | None:
        target = self.path / path
        return target.read_bytes().decode() if target.is_file() else None  # keeps CRLF

    def write(self, path: str, text: str) -> None:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode())

    def commit_and_push(self, paths: list[str], message: str, name: str, email: str) -> str:
        identity = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        try:
            self._git("add", "--", *paths)
            self._git("commit", "--no-verify", "-m", message, **identity)
            sha = self._git("rev-parse", "HEAD")
            self._git("push", "origin", f"HEAD:refs/heads/{self.branch}")
        except git.GitCommandError as exc:
            detail = str(exc.stderr or "")
            if "rejected" in detail or "fetch first" in detail or "non-fast-forward" in detail:
                raise PushRejected(f"push to {self.branch} rejected: the branch moved") from None
            raise _translate(exc, f"push to {redact(self.url)} {self.branch}") from None
        return sha
