"""The build context sent to the engine: a git archive minus what `.dockerignore` excludes,
with the image labels written into the Dockerfile.

The engine does not apply `.dockerignore` to a context it receives; the client does. The
patterns follow Docker's rules (Go `filepath.Match`, `**`, `!` exceptions, the last match
wins), matched by the docker SDK's ``PatternMatcher`` (pure code, no engine behind it) so
that Shipline excludes exactly what `docker build` would. The Dockerfile and `.dockerignore`
always stay: the engine needs the first and itself hides both from COPY when they are
excluded.

Labels: the classic builder turns each ``--label`` into a step of its own (a container
created and committed per label), so the labels go into the Dockerfile as one final `LABEL`
instruction instead, when that is certain to mean the same (no target stage, values without
quotes, `$` or escapes, a Dockerfile that does not end in a line continuation).

Size: the builder never holds a context in memory. `git archive` is read as a stream, member
by member (an ignored file is read past, never kept), into an unnamed temporary file under
the workdir that the engine reads from and that is gone once closed; a context over
`builder.max_context_bytes` stops with ContextTooLarge as soon as it gets there. The
Dockerfile and `.dockerignore` are read from the commit beforehand (never through a
symbolic link, and at most MAX_SMALL_FILE bytes each).
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

from docker.utils.build import PatternMatcher

from services.common.errors import PermanentError

IGNORE_FILE = ".dockerignore"
MAX_SMALL_FILE = 1024 * 1024  # the Dockerfile and .dockerignore, read whole
_COPY_CHUNK = 1024 * 1024
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_UNSAFE_VALUE = re.compile(r'["\\`$\n\r]')


class ContextTooLarge(PermanentError):
    """The build context is over builder.max_context_bytes."""


class CommitFiles(Protocol):
    """What the context is made from: a mirror (services/common/git.py)."""

    def read_file(self, commit: str, path: str, max_bytes: int | None = None) -> bytes | None: ...

    def archive(self, commit: str, directory: str) -> AbstractContextManager[IO[bytes]]: ...


def parse_dockerignore(text: str) -> list[str]:
    """The patterns of a `.dockerignore`: one a line, `#` comments and blank lines dropped."""
    patterns = []
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = posixpath.normpath(pattern).lstrip("/") or "."
        patterns.append(f"!{pattern}" if negated else pattern)
    return patterns


@dataclass(frozen=True)
class BuildContext:
    tar: bytes | IO[bytes]  # the tar the engine gets: in memory, or an open temporary file
    labels: dict[str, str]  # the labels still to pass to the engine (none once inlined)


@contextlib.contextmanager
def context_file(
    files: CommitFiles,
    commit: str,
    directory: str,
    dockerfile: str,
    labels: Mapping[str, str],
    *,
    inline_labels: bool,
    workdir: Path,
    max_bytes: int,
    what: str,
) -> Iterator[BuildContext]:
    """The context of `directory` at `commit`, as the engine should get it, in a temporary
    file under `workdir` (deleted when the block ends). `what` names the build in errors."""
    ignore = files.read_file(commit, _join(directory, IGNORE_FILE), max_bytes=MAX_SMALL_FILE)
    recipe = files.read_file(commit, _join(directory, dockerfile), max_bytes=MAX_SMALL_FILE)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir) as output:
        with files.archive(commit, directory) as stream:
            remaining = write_context(
                stream,
                cast("IO[bytes]", _Capped(output, max_bytes, what)),
                dockerfile,
                labels,
                ignore=None if ignore is None else ignore.decode("utf-8", errors="replace"),
                dockerfile_text=recipe,
                inline_labels=inline_labels,
            )
        output.seek(0)
        yield BuildContext(output, remaining)


def build_context(
    context_tar: bytes, dockerfile: str, labels: Mapping[str, str], inline_labels: bool = True
) -> BuildContext:
    """`context_tar` as the engine should get it: `.dockerignore` applied, labels inlined.

    Pass `inline_labels=False` when the build stops at a target stage: the final `LABEL`
    would land in a later stage.
    """
    wanted = posixpath.normpath(dockerfile)
    with tarfile.open(fileobj=io.BytesIO(context_tar), mode="r:") as source:
        members = {_name(m): m for m in source.getmembers() if m.isfile()}
        ignore, recipe = (_content(source, members.get(n)) for n in (IGNORE_FILE, wanted))
    output = io.BytesIO()
    remaining = write_context(
        io.BytesIO(context_tar),
        output,
        dockerfile,
        labels,
        ignore=None if ignore is None else ignore.decode("utf-8", errors="replace"),
        dockerfile_text=recipe,
        inline_labels=inline_labels,
    )
    unchanged = ignore is None and remaining == dict(labels)
    return BuildContext(context_tar if unchanged else output.getvalue(), remaining)


def write_context(
    source: IO[bytes],
    output: IO[bytes],
    dockerfile: str,
    labels: Mapping[str, str],
    *,
    ignore: str | None,
    dockerfile_text: bytes | None,
    inline_labels: bool = True,
) -> dict[str, str]:
    """Copy the tar stream `source` to `output` with `.dockerignore` (its text: `ignore`)
    applied and the labels written into the Dockerfile (its content: `dockerfile_text`) when
    that is safe; returns the labels still to pass to the engine. Reads and writes in
    chunks: neither tar is ever whole in memory."""
    instruction = label_instruction(labels) if inline_labels else None
    labelled = _labelled(dockerfile_text, instruction) if dockerfile_text and instruction else None
    matcher = PatternMatcher(parse_dockerignore(ignore)) if ignore is not None else None
    if matcher is None and labelled is None:
        shutil.copyfileobj(source, output, _COPY_CHUNK)
        return dict(labels)
    wanted = posixpath.normpath(dockerfile)
    always = {wanted, IGNORE_FILE}
    with (
        tarfile.open(fileobj=source, mode="r|") as tar_in,
        tarfile.open(fileobj=output, mode="w|", format=tarfile.PAX_FORMAT) as tar_out,
    ):
        for member in tar_in:
            name = _name(member)
            if matcher is not None and name not in always and matcher.matches(name):
                continue  # its data is read past by the next iteration, a chunk at a time
            if labelled is not None and name == wanted and member.isfile():
                member.size = len(labelled)
                tar_out.addfile(member, io.BytesIO(labelled))
                continue
            tar_out.addfile(member, tar_in.extractfile(member) if member.isfile() else None)
    return {} if labelled is not None else dict(labels)


def label_instruction(labels: Mapping[str, str]) -> str | None:
    """One `LABEL` instruction setting every label, or None when one would need escaping."""
    if not labels:
        return None
    for key, value in labels.items():
        if not _LABEL_KEY.match(key) or _UNSAFE_VALUE.search(value):
            return None
    return "LABEL " + " ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))


def _name(member: tarfile.TarInfo) -> str:
    return posixpath.normpath(member.name.removeprefix("./"))


def _join(directory: str, name: str) -> str:
    return posixpath.join(directory, name) if directory not in ("", ".") else name


def _content(source: tarfile.TarFile, member: tarfile.TarInfo | None) -> bytes | None:
    handle = source.extractfile(member) if member is not None else None
    return handle.read() if handle is not None else None


def _labelled(dockerfile: bytes, instruction: str) -> bytes | None:
    """The Dockerfile ending in `instruction`, or None when appending could change its meaning."""
    try:
        text = dockerfile.decode("utf-8")
    except UnicodeDecodeError:
        return None
    code = [
        line.rstrip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not code or code[-1].endswith(("\\", "`")):  # a dangling line continuation
        return None
    return (text.rstrip("\n") + f"\n{instruction}\n").encode()


class _Capped:
    """A writer that stops with ContextTooLarge once more than `limit` bytes went through."""

    def __init__(self, output: IO[bytes], limit: int, what: str) -> None:
        self._output, self._limit, self._what = output, limit, what
        self._written = 0

    def write(self, data: bytes) -> int:
        self._written += len(data)
        if self._written > self._limit:
            raise ContextTooLarge(
                f"the build context of {self._what} is larger than builder.max_context_bytes "
                f"({self._limit:,} bytes); leave large files out with .dockerignore, or raise "
                "builder.max_context_bytes"
            )
        return self._output.write(data)
