"""Git, through GitPython: the modules that touch repositories (this one and git_checkout).

A :class:`Mirror` is a bare cache of a configured repository that the detector and the
builder read commits from; the committer's working copy of the gitops branch is a
:class:`~services.common.git_checkout.Checkout`. Git errors become TransientError (network,
lock, push race) or PermanentError (missing commit, bad path); URLs in messages lose their
credentials.

Nothing from outside reaches git's command line unchecked (services/common/git_args.py):
revisions go after `--end-of-options`, paths after `--` and are taken literally. A path read
from a commit that is, or lies under, a symbolic link is refused, never read through.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from services.common.errors import PermanentError, TransientError
from services.common.events import ZERO_SHA
from services.common.git_args import END_OF_OPTIONS as _END
from services.common.git_args import location, revision
from services.common.git_trees import read_blobs, tree_entries, tree_entry

# Importable where git is not installed (GitPython refuses by default): a command then fails
# saying git is missing. The gateway never imports this module; `shipline doctor` checks git.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git  # noqa: E402

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """Drop user:password@ from any URL in the text."""
    return _CREDENTIALS.sub("***@", text)


LOG_FORMAT = "--format=%H%x00%ae%x00%B%x1e"
_BYTES: dict[str, Any] = {"stdout_as_string": False, "strip_newline_in_stdout": False}


def commit_records(output: str) -> list[CommitInfo]:
    records = [r.strip("\n") for r in output.split("\x1e") if r.strip()]
    return [CommitInfo(*record.split("\x00", 2)) for record in records]


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


def slug(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def translate(exc: git.GitCommandError, doing: str) -> Exception:
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
        self.path = cache_dir / f"{slug(url)}.git"
        self._lock = cache_dir / f"{slug(url)}.lock"
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
                raise translate(exc, f"fetch of {redact(self.url)}") from None

    def _git(self, *args: str, **kwargs: Any) -> Any:
        """Run one git command in the mirror (no Repo object: it would parse the config first)."""
        return git.Git(self.path).execute(["git", *args], **kwargs)

    def has_commit(self, sha: str) -> bool:
        if revision(sha) == ZERO_SHA or not (self.path / "HEAD").exists():
            return False
        try:
            self._git("cat-file", "-e", _END, f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return True

    def changed_paths(self, before: str, after: str) -> list[str]:
        revision(after)
        try:
            if before == ZERO_SHA or not self.has_commit(before):
                output = self._git("ls-tree", "-r", "--name-only", _END, after)
            else:
                output = self._git("diff", "--name-only", "--no-renames", _END, before, after, "--")
        except git.GitCommandError as exc:
            raise translate(exc, "diff") from None
        return [line for line in output.splitlines() if line]

    def commits(self, before: str, after: str) -> list[CommitInfo]:
        base = None if before == ZERO_SHA or not self.has_commit(before) else before
        return self.log(base, after)

    def log(
        self, base: str | None, after: str, limit: int | None = None, grep: str | None = None
    ) -> list[CommitInfo]:
        """Commits in `after` and not in `base` (all of them when None), newest first; with
        `grep`, only those whose message has a line matching that extended regexp."""
        spec = f"{revision(base)}..{revision(after)}" if base else revision(after)
        options = [f"--max-count={int(limit)}"] if limit else []
        if grep is not None:
            options += ["--extended-regexp", f"--grep={grep}"]
        try:
            output = self._git("log", LOG_FORMAT, *options, _END, spec, "--")
        except git.GitCommandError as exc:
            raise translate(exc, "log") from None
        return commit_records(output)

    def touched(self, base: str, after: str, limit: int) -> list[tuple[str, list[str]]]:
        """Each commit in `after` and not in `base`, newest first, merges left out, with the
        paths it changed from its parent; the newest `limit` only."""
        spec = f"{revision(base)}..{revision(after)}"
        options = ("-z", "--name-only", "--no-renames", "--no-merges", f"--max-count={limit}")
        try:
            output = self._git("log", "--format=%x1e%H", *options, _END, spec, "--")
        except git.GitCommandError as exc:
            raise translate(exc, "log") from None
        found = []
        for record in str(output).split("\x1e"):
            sha, _, paths = record.partition("\x00")
            if sha.strip():
                found.append((sha.strip(), [p for p in paths.lstrip("\n").split("\x00") if p]))
        return found

    def fast_forward(self, before: str, after: str) -> CommitInfo | None:
        """`after`'s commit when `after` descends from `before` (a fast-forward), else None.

        One walk answers the two questions a push raises first: did it only add commits,
        and who made the newest one. None too when `before` is unknown or equals `after`.
        """
        if before == after or ZERO_SHA in (before, after):
            return None
        spec = f"{revision(before)}..{revision(after)}"
        try:
            output = self._git(
                "log",
                "-1",
                "--topo-order",
                "--ancestry-path",
                LOG_FORMAT,
                _END,
                spec,
                "--",
            )
        except git.GitCommandError as exc:
            if exc.status == 128:  # `before` is not a commit git knows
                return None
            raise translate(exc, "log") from None
        newest = commit_records(output)
        return newest[0] if newest and newest[0].sha == after else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when `ancestor` exists and `descendant` contains it (a fast-forward)."""
        if ancestor == ZERO_SHA:
            return False
        try:
            self._git(
                "merge-base",
                "--is-ancestor",
                _END,
                revision(ancestor),
                revision(descendant),
            )
        except git.GitCommandError as exc:
            if exc.status in (1, 128):  # 1: not an ancestor; 128: no such commit
                return False
            raise translate(exc, "merge-base") from None
        return True

    def merge_base(self, first: str, second: str) -> str | None:
        """The best common ancestor, or None for unrelated histories or a missing commit."""
        if ZERO_SHA in (first, second):
            return None
        try:
            output = self._git("merge-base", _END, revision(first), revision(second))
            return str(output).strip() or None
        except git.GitCommandError as exc:
            if exc.status in (1, 128):
                return None
            raise translate(exc, "merge-base") from None

    def resolve(self, ref: str) -> str | None:
        """The commit a ref (or sha) names in the mirror, or None."""
        try:
            output = self._git(
                "rev-parse", "--verify", "--quiet", _END, f"{revision(ref)}^{{commit}}"
            )
        except git.GitCommandError:
            return None
        return str(output).strip() or None

    def diff_paths(self, base: str, after: str) -> list[str]:
        """Paths whose content differs between two trees (a rename lists both paths)."""
        try:
            output = self._git(
                "diff",
                "--name-only",
                "--no-renames",
                "-z",
                _END,
                revision(base),
                revision(after),
                "--",
            )
        except git.GitCommandError as exc:
            raise translate(exc, f"diff {base[:7]}..{after[:7]}") from None
        return [path for path in str(output).split("\x00") if path]

    def diff_paths_from(self, bases: Sequence[str], after: str) -> dict[str, list[str]]:
        """`diff_paths(base, after)` for each base, in one git process (`diff-tree --stdin`):
        base → the paths that differ ([] for a tree equal to `after`'s). A base git does not
        hold is left out."""
        wanted = list(dict.fromkeys(revision(base) for base in bases))
        pairs = "".join(f"{base} {revision(after)}\n" for base in wanted)
        try:
            with tempfile.TemporaryFile() as pairs_file:
                pairs_file.write(pairs.encode())
                pairs_file.seek(0)
                options = ("--always", "-r", "-z", "--name-only", "--no-renames")
                output = self._git("diff-tree", "--stdin", *options, istream=pairs_file)
        except git.GitCommandError as exc:
            raise translate(exc, f"diff of {len(wanted)} commits with {after[:7]}") from None
        known = set(wanted)
        found: dict[str, list[str]] = {}
        current: list[str] | None = None
        for token in str(output).split("\x00"):
            if token in known and token not in found:  # git heads each diff with its base
                current = found[token] = []
            elif token and current is not None:
                current.append(token)
        return found

    def diff_status(self, base: str, after: str) -> dict[str, str]:
        """Each path that differs between two trees → A added, D deleted, M modified, T of
        another type (file, link, submodule); a rename is a D and an A. In git's order."""
        try:
            trees = (revision(base), revision(after))
            output = self._git("diff", "--name-status", "--no-renames", "-z", _END, *trees, "--")
        except git.GitCommandError as exc:
            raise translate(exc, f"diff {base[:7]}..{after[:7]}") from None
        fields = str(output).split("\x00")
        return dict(zip(fields[1::2], fields[0::2], strict=False))

    def tree_paths(self, commit: str) -> list[str]:
        """Every file path in a commit's tree."""
        try:
            output = self._git("ls-tree", "-r", "-z", "--name-only", _END, revision(commit))
        except git.GitCommandError as exc:
            raise translate(exc, f"ls-tree {commit[:7]}") from None
        return [path for path in str(output).split("\x00") if path]

    def previous_tag(self, commit: str, patterns: Sequence[str]) -> str | None:
        """The nearest tag matching one of `patterns` (globs) in `commit`'s ancestry,
        `commit` itself excluded; None when there is none."""
        matches = [f"--match={pattern}" for pattern in patterns]
        parent = f"{revision(commit)}^"
        try:
            output = self._git("describe", "--tags", "--abbrev=0", *matches, _END, parent)
        except git.GitCommandError:
            return None  # no such tag, or a root commit
        return str(output).strip() or None

    def read_file(self, commit: str, path: str, max_bytes: int | None = None) -> bytes | None:
        """The file's bytes at `commit`, None when there is no such file (or it is a directory);
        UnsafePath when the path, or a directory on its way, is a symbolic link in that commit;
        PermanentError when the file is larger than `max_bytes`."""
        try:
            entry = tree_entry(self._git, self._commit_spec(commit), path, redact(self.url))
            if entry is None or entry.kind != "blob":
                return None
            if max_bytes is not None and entry.size > max_bytes:
                raise PermanentError(
                    f"{path} at {commit[:7]} in {redact(self.url)} is {entry.size:,} bytes, "
                    f"more than the {max_bytes:,} Shipline reads; make it smaller"
                )
            data: bytes = self._git("cat-file", "blob", entry.sha, **_BYTES)
        except git.GitCommandError as exc:
            raise self._read_error(exc, commit, f"read of {path} at {commit[:7]}") from None
        return data

    def read_files(self, commit: str, paths: Sequence[str]) -> dict[str, bytes | None]:
        """read_file() of each of `paths` at `commit`, in two git commands, not two each."""
        try:
            entries = tree_entries(self._git, self._commit_spec(commit), paths, redact(self.url))
            blobs = [e.sha for e in entries.values() if e is not None and e.kind == "blob"]
            contents = read_blobs(self._git, list(dict.fromkeys(blobs)))
        except git.GitCommandError as exc:
            raise self._read_error(exc, commit, f"read of {len(paths)} files") from None
        return {path: contents.get(e.sha) if e else None for path, e in entries.items()}

    def _commit_spec(self, commit: str) -> str:
        if revision(commit) == ZERO_SHA or not (self.path / "HEAD").exists():
            raise PermanentError(f"commit {commit} not found in {redact(self.url)}")
        return f"{commit}^{{commit}}"  # a commit only; ls-tree fails when it is not here

    def _read_error(self, exc: git.GitCommandError, commit: str, doing: str) -> Exception:
        if not self.has_commit(commit):  # asked once a read failed, not before every read
            return PermanentError(f"commit {commit} not found in {redact(self.url)}")
        return translate(exc, doing)

    @contextlib.contextmanager
    def archive(self, commit: str, directory: str) -> Iterator[IO[bytes]]:
        """A tar stream of `directory` at `commit`, rooted at that directory (a docker build
        context), read while git writes it: never whole in memory.

        UnsafePath when the directory is, or lies under, a symbolic link in the commit.
        """
        if not self.has_commit(commit):
            raise PermanentError(f"commit {commit} not found in {redact(self.url)}")
        doing = f"archive of {directory or '/'} at {commit[:7]}"
        try:
            entry = tree_entry(self._git, commit, directory or ".", redact(self.url))
        except git.GitCommandError as exc:
            raise translate(exc, doing) from None
        if entry is None or entry.kind != "tree":
            raise PermanentError(f"git {doing} failed: {directory} is not a directory there")
        inside = "/".join(location(directory, redact(self.url)))
        treeish = f"{commit}:{inside}" if inside else commit
        # The AutoInterrupt handle ends git when collected: keep it while the stream is read.
        handle = git.Git(self.path).execute(
            ["git", "archive", "--format=tar", _END, treeish], as_process=True
        )
        process: Any = handle.proc
        try:
            try:
                yield process.stdout
                while process.stdout.read(65536):  # the end-of-archive padding left unread
                    pass
            except BaseException:
                process.kill()
                if process.wait() > 0:  # git failed first: that is the story, not the reader's
                    raise _archive_error(process, doing) from None
                raise
            if process.wait() != 0:
                raise _archive_error(process, doing)
        finally:
            process.stdout.close()
            process.stderr.close()
            del handle


def _archive_error(process: Any, doing: str) -> Exception:
    stderr = process.stderr.read().decode(errors="replace")
    return translate(git.GitCommandError(["git", "archive"], process.returncode, stderr), doing)
