"""Files inside a checkout, opened without following links.

A repository writer controls what the working tree holds, symbolic links included: a
committed `docs/CHANGELOG.md -> /etc/profile` or `k8s -> /` would make an ordinary
``open()`` read or write outside the checkout. Here every component of a path is opened
relative to its parent's descriptor with ``O_NOFOLLOW``, so a link anywhere on the way (or
a path naming something other than a regular file) is refused with :class:`UnsafePath`
instead of followed; no check-then-open race either, since nothing is resolved by name twice.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from services.common.errors import PermanentError

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a FIFO never hangs the open
_HINT = "Shipline reads and writes only regular files inside the repository"


class UnsafePath(PermanentError):
    """A path that is, or lies under, a symbolic link, or that leaves the repository."""


def path_parts(relative: str, where: str) -> list[str]:
    """The components of a relative path inside a repository (`.` and empty ones dropped:
    `./api/` is `api`, `.` the root itself); UnsafePath for anything else (absolute, `..`,
    NUL)."""
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if relative.startswith("/") or "\x00" in relative or ".." in parts:
        raise UnsafePath(
            f"{relative!r} in {where}: not a relative path inside the repository "
            "(no leading '/', no '..'); name the file relative to the repository root"
        )
    return parts


def _file_parts(relative: str, where: str) -> tuple[list[str], str]:
    parts = path_parts(relative, where)
    if not parts:
        raise UnsafePath(f"{relative!r} in {where} names the repository root, not a file")
    return parts[:-1], parts[-1]


def read_bytes(root: Path, relative: str, where: str) -> bytes | None:
    """The file's bytes, or None when it (or a parent directory) does not exist."""
    directories, name = _file_parts(relative, where)
    try:
        with _directory(root, directories, relative, where, create=False) as parent:
            fd = _open(parent, name, os.O_RDONLY, relative, where)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write_bytes(root: Path, relative: str, data: bytes, where: str) -> None:
    """Replace the file's content, creating it and missing parent directories."""
    directories, name = _file_parts(relative, where)
    with _directory(root, directories, relative, where, create=True) as parent:
        fd = _open(parent, name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, relative, where)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def _directory(
    root: Path, directories: list[str], relative: str, where: str, create: bool
) -> Iterator[int]:
    """A descriptor of the file's parent directory, reached one component at a time."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, part in enumerate(directories):
            try:
                child = os.open(part, _DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):  # a concurrent writer made it
                    os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIRECTORY, dir_fd=fd)
            except OSError as exc:
                shown = "/".join(directories[: depth + 1])
                raise _refusal(fd, part, shown, relative, where, exc, stat.S_ISDIR) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open(parent: int, name: str, flags: int, relative: str, where: str) -> int:
    try:
        fd = os.open(name, flags | _FILE, 0o644, dir_fd=parent)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _refusal(parent, name, relative, relative, where, exc, stat.S_ISREG) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{relative} in {where} is not a regular file; {_HINT}")
    os.set_blocking(fd, True)
    return fd


def _refusal(
    parent: int,
    name: str,
    shown: str,
    relative: str,
    where: str,
    exc: OSError,
    expected: Callable[[int], bool],
) -> Exception:
    """UnsafePath naming the component that is a link, or not what `expected` wants (a
    directory on the way, a regular file at the end); other errors are passed on as they are."""
    try:
        mode = os.lstat(name, dir_fd=parent).st_mode
    except OSError:
        return exc
    if stat.S_ISLNK(mode):
        return UnsafePath(
            f"{relative} in {where}: {shown} is a symbolic link, which Shipline never follows; "
            f"replace the link with the file or directory itself ({_HINT})"
        )
    if not expected(mode):
        kind = "a directory" if expected is stat.S_ISDIR else "a regular file"
        return UnsafePath(f"{relative} in {where}: {shown} is not {kind}; {_HINT}")
    return exc
