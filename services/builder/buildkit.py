"""BuildKit's progress, as the engine streams it, turned into plain build log lines.

With ``version=2`` the engine's /build endpoint runs BuildKit and reports progress as
``{"id": "moby.buildkit.trace", "aux": <base64>}`` chunks, each a protobuf
``moby.buildkit.v1.StatusResponse``. Only a few of its fields are read (vertexes and their
logs), so they are decoded straight from protobuf's wire format rather than through
generated classes. The lines look like ``docker buildx build --progress=plain``:

    #5 [2/3] RUN make
    #5 0.412 compiling...
    #5 DONE 2.3s
    #6 [3/3] COPY app /app
    #6 CACHED
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field

Fields = dict[int, list[int | bytes]]

# moby.buildkit.v1.StatusResponse and the messages it holds (api/services/control/control.proto)
_VERTEXES, _LOGS = 1, 3
_DIGEST, _NAME, _CACHED, _STARTED, _COMPLETED, _ERROR = 1, 3, 4, 5, 6, 7
_LOG_VERTEX, _LOG_TIMESTAMP, _LOG_MESSAGE = 1, 2, 4
_SECONDS, _NANOS = 1, 2


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def decode(data: bytes) -> Fields:
    """A protobuf message's fields by number: ints for varints, bytes for the rest."""
    fields: Fields = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, at = _varint(data, at)
        elif wire_type == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            value, at = data[at : at + size], at + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


def _text(fields: Fields, number: int) -> str:
    values = fields.get(number)
    value = values[-1] if values else b""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _seconds(fields: Fields, number: int) -> float | None:
    values = fields.get(number)
    if not values or not isinstance(values[-1], bytes):
        return None
    stamp = decode(values[-1])
    whole, nanos = stamp.get(_SECONDS, [0])[-1], stamp.get(_NANOS, [0])[-1]
    assert isinstance(whole, int) and isinstance(nanos, int)
    return whole + nanos / 1e9


@dataclass
class _Vertex:
    number: int
    name: str = ""
    started: float | None = None
    announced: bool = False
    cached: bool = False
    finished: bool = False


@dataclass
class Progress:
    """Accumulates StatusResponse chunks of one build into log lines and cache hits."""

    _vertexes: dict[str, _Vertex] = field(default_factory=dict)
    cached_steps: int = 0  # Dockerfile steps (not FROM) the build cache answered

    def feed(self, aux: str) -> Iterator[str]:
        """The log lines one ``moby.buildkit.trace`` chunk adds (none if it is not valid)."""
        try:
            status = decode(base64.b64decode(aux))
        except (binascii.Error, ValueError, IndexError):
            return
        for raw in status.get(_VERTEXES, []):
            if isinstance(raw, bytes):
                yield from self._vertex(decode(raw))
        for raw in status.get(_LOGS, []):
            if isinstance(raw, bytes):
                yield from self._log(decode(raw))

    def _get(self, digest: str) -> _Vertex:
        vertex = self._vertexes.get(digest)
        if vertex is None:
            vertex = self._vertexes[digest] = _Vertex(len(self._vertexes) + 1)
        return vertex

    def _vertex(self, fields: Fields) -> Iterator[str]:
        vertex = self._get(_text(fields, _DIGEST))
        vertex.name = _text(fields, _NAME) or vertex.name
        started = _seconds(fields, _STARTED)
        vertex.started = started if started is not None else vertex.started
        if not vertex.announced:
            vertex.announced = True
            yield f"#{vertex.number} {vertex.name}"
        if fields.get(_CACHED, [0])[-1] and not vertex.cached:
            vertex.cached = True
            if _is_dockerfile_step(vertex.name):
                self.cached_steps += 1
            yield f"#{vertex.number} CACHED"
        error = _text(fields, _ERROR)
        completed = _seconds(fields, _COMPLETED)
        if (error or completed is not None) and not vertex.finished:
            vertex.finished = True
            if error:
                yield f"#{vertex.number} ERROR: {error}"
            elif not vertex.cached:
                took = completed - vertex.started if completed and vertex.started else 0.0
                yield f"#{vertex.number} DONE {took:.1f}s"

    def _log(self, fields: Fields) -> Iterator[str]:
        vertex = self._get(_text(fields, _LOG_VERTEX))
        stamp = _seconds(fields, _LOG_TIMESTAMP)
        offset = f" {stamp - vertex.started:.3f}" if stamp and vertex.started else ""
        for line in _text(fields, _LOG_MESSAGE).splitlines():
            if line.strip():
                yield f"#{vertex.number}{offset} {line}"


def _is_dockerfile_step(name: str) -> bool:
    """`[2/3] RUN make` is; `[internal] load ...` and `[1/3] FROM ...` are not."""
    if not name.startswith("[") or name.startswith("[internal]"):
        return False
    instruction = name.partition("] ")[2].split(" ", 1)[0].upper()
    return instruction not in ("", "FROM")
