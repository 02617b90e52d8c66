"""The trees a shipline.yaml is checked against (services/common/project_checks.py): the
working tree on disk, for `shipline validate`, and a commit in a repository's mirror, for
the detector and `shipline doctor`.

Neither follows a symbolic link: one is reported as a `link`, never looked through. A
commit's entries come from one `git ls-tree` for every path asked about (and the
directories on their way), and every file's text from one `git cat-file --batch`, not a
git process per path.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import git

from services.common import safe_files
from services.common.errors import PermanentError
from services.common.git import Mirror, redact, translate
from services.common.git_args import END_OF_OPTIONS as _END
from services.common.git_args import LITERAL_PATHSPECS, location, revision
from services.common.git_trees import SYMLINK_MODE

Kind = Literal["file", "dir", "link", "other"]
_MAX_PATHS_PER_CALL = 2000  # ls-tree arguments per process, well under the system's limit


def _too_large(path: str, size: int, max_bytes: int) -> PermanentError:
    return PermanentError(
        f"{path} is {size:,} bytes, more than the {max_bytes:,} Shipline reads; make it smaller"
    )


class WorkingTree:
    """A checkout on disk, read through services/common/safe_files.py."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._where = str(root)

    def preload(self, paths: Iterable[str]) -> None:
        """Nothing to do: the disk answers each question as cheaply."""

    def kind(self, path: str) -> Kind | None:
        current = self.root
        parts = safe_files.path_parts(path, self._where)
        for depth, part in enumerate(parts, start=1):
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(mode):
                return "link"
            if depth < len(parts) and not stat.S_ISDIR(mode):
                return None
        mode = os.lstat(current).st_mode
        if stat.S_ISDIR(mode):
            return "dir"
        return "file" if stat.S_ISREG(mode) else "other"

    def entries(self, directory: str) -> list[str]:
        if self.kind(directory or ".") != "dir":
            return []
        return sorted(os.listdir(self.root.joinpath(*safe_files.path_parts(directory, "."))))

    def read_text(self, path: str, max_bytes: int | None = None) -> str | None:
        data = safe_files.read_bytes(self.root, path, self._where)
        if data is not None and max_bytes is not None and len(data) > max_bytes:
            raise _too_large(path, len(data), max_bytes)
        return None if data is None else data.decode("utf-8", "replace")


class CommitTree:
    """One commit of a repository's mirror (services/common/git.py), read with git."""

    def __init__(self, mirror: Mirror, commit: str) -> None:
        self._git = git.Git(mirror.path)
        self._path = mirror.path
        self._commit = revision(commit)
        self._where = f"{redact(mirror.url)}@{commit[:7]}"
        self._entries: dict[str, tuple[str, str, str, int] | None] = {"": ("040000", "tree", "", 0)}

    def preload(self, paths: Iterable[str]) -> None:
        """List every path not yet known in one git call (`-t`: with the directories on the
        way); a path still missing is asked again component by component, since a link or
        a file where a directory should be is not listed on the way."""
        wanted = {"/".join(location(path, self._where)) for path in paths}
        self._list(sorted(wanted - self._entries.keys()))
        gone = [path for path in wanted if self._entries.get(path) is None]
        above = {
            "/".join(p.split("/")[:depth]) for p in gone for depth in range(1, p.count("/") + 1)
        }
        self._list(sorted(above - self._entries.keys()))

    def _list(self, paths: list[str]) -> None:
        for start in range(0, len(paths), _MAX_PATHS_PER_CALL):
            batch = paths[start : start + _MAX_PATHS_PER_CALL]
            for path in batch:
                self._entries[path] = None
            # Straight to git: GitPython scans every argument for passwords before it runs.
            command = ["git", LITERAL_PATHSPECS, "ls-tree", "-t", "-l", "-z", _END, self._commit]
            listing = subprocess.run(
                [*command, *batch], cwd=self._path, capture_output=True, check=False
            )
            if listing.returncode != 0:
                error = git.GitCommandError(["git", "ls-tree"], listing.returncode, listing.stderr)
                raise translate(error, f"ls-tree of {self._where}")
            for record in listing.stdout.decode("utf-8", "surrogateescape").split("\x00"):
                meta, _, name = record.partition("\t")
                if name:
                    mode, kind, sha, size = meta.split()
                    self._entries[name] = (mode, kind, sha, int(size) if size.isdigit() else 0)

    def _entry(self, path: str) -> tuple[str, str, str, int] | None:
        parts = location(path, self._where)
        if "/".join(parts) not in self._entries:
            self.preload([path])
        for depth in range(1, len(parts) + 1):
            entry = self._entries.get("/".join(parts[:depth]))
            if entry is None or entry[0] == SYMLINK_MODE:
                return entry
            if depth < len(parts) and entry[1] != "tree":
                return None
        return self._entries["/".join(parts)]

    def kind(self, path: str) -> Kind | None:
        entry = self._entry(path)
        if entry is None:
            return None
        if entry[0] == SYMLINK_MODE:
            return "link"
        kinds: dict[str, Kind] = {"tree": "dir", "blob": "file"}
        return kinds.get(entry[1], "other")

    def entries(self, directory: str) -> list[str]:
        parts = location(directory, self._where)
        if self.kind(directory or ".") != "dir":
            return []
        inside = "/".join(parts) + "/" if parts else ""
        try:
            output = self._git.execute(
                ["git", LITERAL_PATHSPECS, "ls-tree", "-z", "--name-only", _END, self._commit]
                + ([inside] if inside else [])
            )
        except git.GitCommandError as exc:
            raise translate(exc, f"ls-tree of {self._where}") from None
        return sorted(name.rsplit("/", 1)[-1] for name in str(output).split("\x00") if name)

    def read_text(self, path: str, max_bytes: int | None = None) -> str | None:
        entry = self._entry(path)
        if entry is None or entry[0] == SYMLINK_MODE or entry[1] != "blob":
            return None
        if max_bytes is not None and entry[3] > max_bytes:
            raise _too_large(path, entry[3], max_bytes)
        try:  # one `git cat-file --batch` serves every read of this tree
            data = self._git.get_object_data(entry[2])[3]
        except (git.GitCommandError, ValueError) as exc:
            raise PermanentError(f"read of {path} in {self._where} failed: {exc}") from None
        return bytes(data).decode("utf-8", "replace")

    def close(self) -> None:
        """End the git process reads go through."""
        self._git.clear_cache()

    def __enter__(self) -> CommitTree:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
