"""BuildKit's progress messages (protobuf, as the engine streams them) into log lines.

The messages are encoded here field by field, as moby.buildkit.v1.StatusResponse defines
them; the engine tests (test_docker_engine.py) read the real ones.
"""

from __future__ import annotations

import base64

from services.builder.buildkit import Progress, decode


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def timestamp(seconds: int, nanos: int = 0) -> bytes:
    return field(1, seconds) + field(2, nanos)


def vertex(digest: str, name: str, **state: int | bytes | str) -> bytes:
    numbers = {"cached": 4, "started": 5, "completed": 6, "error": 7}
    body = field(1, digest) + field(3, name)
    for key, value in state.items():
        body += field(numbers[key], value)
    return field(1, body)


def log(digest: str, at: bytes, message: str) -> bytes:
    return field(3, field(1, digest) + field(2, at) + field(3, 1) + field(4, message))


def chunk(*parts: bytes) -> str:
    return base64.b64encode(b"".join(parts)).decode()


def test_the_wire_format_decodes_into_fields_by_number() -> None:
    fields = decode(field(1, "sha256:a") + field(4, 1) + field(1, "sha256:b") + field(3, 300))

    assert fields == {1: [b"sha256:a", b"sha256:b"], 4: [1], 3: [300]}


def test_steps_render_like_plain_progress_with_their_output_and_duration() -> None:
    progress = Progress()
    run = "sha256:run"

    lines = [
        *progress.feed(chunk(vertex(run, "[2/2] RUN make", started=timestamp(100)))),
        *progress.feed(chunk(log(run, timestamp(100, 500_000_000), "compiling\nlinking\n"))),
        *progress.feed(
            chunk(vertex(run, "[2/2] RUN make", started=timestamp(100), completed=timestamp(102)))
        ),
    ]

    assert lines == [
        "#1 [2/2] RUN make",
        "#1 0.500 compiling",
        "#1 0.500 linking",
        "#1 DONE 2.0s",
    ]
    assert progress.cached_steps == 0


def test_cached_dockerfile_steps_are_counted_but_not_from_or_internal_ones() -> None:
    progress = Progress()
    message = chunk(
        vertex("sha256:ctx", "[internal] load build context", cached=1),
        vertex("sha256:from", "[1/3] FROM docker.io/library/busybox", cached=1),
        vertex("sha256:run", "[2/3] RUN make", cached=1),
        vertex("sha256:copy", "[builder 3/3] COPY app /app", cached=1),
    )

    lines = list(progress.feed(message))
    again = list(progress.feed(message))  # the engine repeats a vertex as it changes

    assert "#3 [2/3] RUN make" in lines and "#3 CACHED" in lines
    assert progress.cached_steps == 2
    assert again == []


def test_a_failed_step_says_why() -> None:
    progress = Progress()

    lines = list(progress.feed(chunk(vertex("sha256:x", "[2/2] RUN exit 3", error="exit code: 3"))))

    assert lines == ["#1 [2/2] RUN exit 3", "#1 ERROR: exit code: 3"]


def test_a_message_that_is_not_base64_protobuf_adds_nothing() -> None:
    progress = Progress()

    assert list(progress.feed("not base64!")) == []
    assert list(progress.feed(base64.b64encode(b"\x0f\x01").decode())) == []
