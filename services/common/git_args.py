"""What Shipline lets through to git's command line: revisions, branch names and paths.

Values come from events, webhooks and shipline.yaml, so none may read as an option (a
leading `-`) or as git syntax Shipline did not mean (`a..b` ranges, `rev:path`, `@{…}`).
Callers still put revisions after `--end-of-options` and paths after `--`; this is the
check before that, with a clear error instead of whatever git would make of the value.
"""

from __future__ import annotations

import re

from services.common.errors import PermanentError
from services.common.safe_files import path_parts

END_OF_OPTIONS = "--end-of-options"  # what follows is a revision, even when it starts with '-'
LITERAL_PATHSPECS = "--literal-pathspecs"  # a path is a path: no glob, no ':(magic)'
_MAX_LENGTH = 1024
# A sha, a ref name, or either followed by parent/ancestor steps (`sha^`, `main~2`).
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/+-]*(?:[\^~][0-9]{0,4})*")
# git check-ref-format's rules, for the characters Shipline accepts at all.
_BRANCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/+-]*")


class InvalidGitArgument(PermanentError):
    """A value that must never reach git's command line as it is."""


def revision(value: str) -> str:
    """`value` when it is a plain commit sha, ref name or `<one of those>^`/`~N`."""
    if len(value) > _MAX_LENGTH or not _REVISION.fullmatch(value) or ".." in value:
        raise InvalidGitArgument(
            f"refusing git revision {value[:80]!r}: expected a commit sha or a ref name "
            "(letters, digits, '.', '_', '/', '+', '-', not starting with '-', no '..')"
        )
    return value


def branch(value: str) -> str:
    """`value` when it is a valid branch name (`main`, `release/1.x`)."""
    components = value.split("/")
    if (
        len(value) > _MAX_LENGTH
        or not _BRANCH.fullmatch(value)
        or ".." in value
        or any(not part or part.startswith(".") or part.endswith(".lock") for part in components)
        or value.endswith(".")
    ):
        raise InvalidGitArgument(
            f"refusing git branch name {value[:80]!r}: expected a branch name such as 'main' "
            "or 'release/1.x' (letters, digits, '.', '_', '/', '+', '-', not starting with '-')"
        )
    return value


def location(value: str, where: str) -> list[str]:
    """The components of a file or directory inside the repository (none: the root)."""
    if len(value) > _MAX_LENGTH:
        raise InvalidGitArgument(f"refusing a path of {len(value)} characters in {where}")
    return path_parts(value, where)


def path(value: str, where: str) -> str:
    """`value` when it names a file inside the repository (see safe_files)."""
    if not location(value, where):
        raise InvalidGitArgument(f"{value!r} in {where} names the repository root, not a file")
    return value


def pathspec(value: str, where: str) -> str:
    """A path, or `.` for the whole tree."""
    return value if value == "." else path(value, where)
