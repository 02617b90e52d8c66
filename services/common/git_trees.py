"""A path's entry in a commit's tree, read with `git ls-tree`, refusing symbolic links on the
way: `git cat-file` would hand back a link's text as if it were the file."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common import safe_files
from services.common.git_args import END_OF_OPTIONS as _END
from services.common.git_args import LITERAL_PATHSPECS, location

SYMLINK_MODE = "120000"


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # 100644, 100755, 120000 (a symbolic link), 040000 (a tree), 160000
    kind: str  # blob, tree or commit
    sha: str
    size: int = 0  # a blob's, in bytes


def _ls_tree(run: Callable[..., Any], commit: str, paths: Sequence[str]) -> dict[str, TreeEntry]:
    # After --end-of-options, ls-tree takes every argument past the tree as a path ("--" too).
    output = str(run(LITERAL_PATHSPECS, "ls-tree", "-t", "-l", "-z", _END, commit, *paths))
    entries = {}
    for record in output.split("\x00"):
        meta, _, name = record.partition("\t")
        if name:
            mode, kind, sha, size = meta.split()
            entries[name] = TreeEntry(mode, kind, sha, int(size) if size.isdigit() else 0)
    return entries


def tree_entry(run: Callable[..., Any], commit: str, path: str, where: str) -> TreeEntry | None:
    """`path`'s entry in `commit`'s tree (None: not there; a tree without a sha for the root);
    UnsafePath when it or a parent directory is a symbolic link, which `git cat-file` would
    hand back as the link's text."""
    parts = location(path, where)
    listed = _ls_tree(run, commit, ["/".join(parts)]) if parts else {}  # -t: trees on the way
    entry = TreeEntry("040000", "tree", "")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        # A link (or a file) where a directory should be is not listed on the way: ask by name.
        found = listed.get(prefix) or _ls_tree(run, commit, [prefix]).get(prefix)
        if found is None:
            return None
        if found.mode == SYMLINK_MODE:
            raise safe_files.UnsafePath(
                f"{path} in {where}: {prefix} is a symbolic link in commit {commit[:12]}, "
                "which Shipline never follows; commit the file or directory itself"
            )
        if depth < len(parts) and found.kind != "tree":
            return None
        entry = found
    return entry


def tree_entries(
    run: Callable[..., Any], commit: str, paths: Sequence[str], where: str
) -> dict[str, TreeEntry | None]:
    """tree_entry() of each of `paths` from one `git ls-tree` of them all (a path whose way
    the listing does not show, a link where a directory should be, is asked alone)."""
    wanted = {path: location(path, where) for path in paths}
    listed = _ls_tree(run, commit, sorted({"/".join(p) for p in wanted.values() if p}))
    found: dict[str, TreeEntry | None] = {}
    for path, parts in wanted.items():
        prefixes = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
        way = [listed.get(prefix) for prefix in prefixes]
        if not parts or any(entry is None for entry in way):
            found[path] = tree_entry(run, commit, path, where)
            continue
        steps = [entry for entry in way if entry is not None]
        if any(entry.mode == SYMLINK_MODE for entry in steps) or any(
            entry.kind != "tree" for entry in steps[:-1]
        ):
            found[path] = tree_entry(run, commit, path, where)  # says why, as one read would
            continue
        found[path] = steps[-1]
    return found


def read_blobs(run: Callable[..., Any], shas: Sequence[str]) -> dict[str, bytes]:
    """The contents of blobs `shas`, by one `git cat-file --batch`."""
    if not shas:
        return {}
    with tempfile.TemporaryFile() as requests:
        requests.write("".join(f"{sha}\n" for sha in shas).encode())
        requests.seek(0)
        output: bytes = run(
            "cat-file", "--batch", istream=requests, stdout_as_string=False,
            strip_newline_in_stdout=False,
        )  # fmt: skip
    blobs, position = {}, 0
    for sha in shas:
        end = output.index(b"\n", position)
        header = output[position:end].split()
        position = end + 1
        if len(header) < 3 or header[1] != b"blob":
            continue  # missing, or not a blob
        size = int(header[2])
        blobs[sha] = output[position : position + size]
        position += size + 1
    return blobs
