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
"""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

from docker.utils.build import PatternMatcher

IGNORE_FILE = ".dockerignore"
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_UNSAFE_VALUE = re.compile(r'["\\`$\n\r]')


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
    tar: bytes
    labels: dict[str, str]  # the labels still to pass to the engine (none once inlined)


def build_context(
    context_tar: bytes, dockerfile: str, labels: Mapping[str, str], inline_labels: bool = True
) -> BuildContext:
    """`context_tar` as the engine should get it: `.dockerignore` applied, labels inlined.

    Pass `inline_labels=False` when the build stops at a target stage: the final `LABEL`
    would land in a later stage.
    """
    instruction = label_instruction(labels) if inline_labels else None
    wanted = posixpath.normpath(dockerfile)
    with tarfile.open(fileobj=io.BytesIO(context_tar), mode="r:") as source:
        members = source.getmembers()
        matcher = _ignore_matcher(source, members)
        found = [m for m in members if _name(m) == wanted and m.isfile()]
        labelled = _labelled(source, found[0], instruction) if found and instruction else None
        if matcher is None and labelled is None:
            return BuildContext(context_tar, dict(labels))
        always = {wanted, IGNORE_FILE}
        output = io.BytesIO()
        with tarfile.open(fileobj=output, mode="w:", format=tarfile.PAX_FORMAT) as target:
            for member in members:
                name = _name(member)
                if matcher is not None and name not in always and matcher.matches(name):
                    continue
                if labelled is not None and member is found[0]:
                    member.size = len(labelled)
                    target.addfile(member, io.BytesIO(labelled))
                    continue
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return BuildContext(output.getvalue(), {} if labelled is not None else dict(labels))


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


def _ignore_matcher(
    source: tarfile.TarFile, members: list[tarfile.TarInfo]
) -> PatternMatcher | None:
    ignore = next((m for m in members if _name(m) == IGNORE_FILE and m.isfile()), None)
    handle = source.extractfile(ignore) if ignore is not None else None
    if handle is None:
        return None
    return PatternMatcher(parse_dockerignore(handle.read().decode("utf-8", errors="replace")))


def _labelled(
    source: tarfile.TarFile, dockerfile: tarfile.TarInfo, instruction: str
) -> bytes | None:
    """The Dockerfile ending in `instruction`, or None when appending could change its meaning."""
    handle = source.extractfile(dockerfile)
    if handle is None:
        return None
    try:
        text = handle.read().decode("utf-8")
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
