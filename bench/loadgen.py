"""A load generator for the ingestion benchmark, run as its own process:

    python -m bench.loadgen PORT PATH SECONDS CONNECTIONS BODY_FILE SECRET

CONNECTIONS keep-alive HTTP/1.1 connections to 127.0.0.1:PORT each send POST PATH with a
new push each time (BODY_FILE with every PUSH_MARKER replaced by a fresh commit id, signed
with SECRET: the same push twice would be deduped as a replay) and a unique
X-GitHub-Delivery, one request at a time, for SECONDS.
Prints one JSON line: requests, accepted (202), other statuses, seconds, latencies.
A hand-written client: an HTTP library would cost the generator more CPU than the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter

PUSH_MARKER = b"f00d" * 10  # 40 hex digits that stand for the pushed commit in BODY_FILE


def new_push(template: bytes, secret: bytes) -> tuple[bytes, bytes]:
    """The template with a fresh commit id, and its X-Hub-Signature-256 value."""
    body = template.replace(PUSH_MARKER, secrets.token_hex(20).encode())
    return body, b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()


async def connection(
    port: int, request_head: bytes, template: bytes, secret: bytes, until: float,
    stats: dict[str, list],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            delivery = uuid.uuid4().hex.encode()
            body, signature = new_push(template, secret)
            started = time.perf_counter()
            writer.write(
                request_head + b"X-Hub-Signature-256: " + signature + b"\r\n"
                b"X-GitHub-Delivery: " + delivery + b"\r\n\r\n" + body
            )
            status, length = await read_head(reader)
            await reader.readexactly(length)
            stats["latency"].append(time.perf_counter() - started)
            stats["status"].append(status)
    finally:
        writer.close()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, length


async def main(
    port: int, path: str, seconds: float, connections: int, template: bytes, secret: str
) -> dict:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(template)}\r\nX-GitHub-Event: push\r\n"
    ).encode()
    stats: dict[str, list] = {"latency": [], "status": []}
    started = time.perf_counter()
    until = started + seconds
    key = secret.encode()
    await asyncio.gather(
        *(connection(port, head, template, key, until, stats) for _ in range(connections))
    )
    took = time.perf_counter() - started
    latencies = sorted(stats["latency"])
    statuses = Counter(stats["status"])
    return {
        "requests": len(latencies),
        "accepted": statuses.get(202, 0),
        "statuses": {str(k): v for k, v in statuses.items()},
        "seconds": took,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0,
    }


if __name__ == "__main__":
    port, path, seconds, connections, body_file, secret = sys.argv[1:7]
    with open(body_file, "rb") as handle:
        payload = handle.read()
    result = asyncio.run(main(int(port), path, float(seconds), int(connections), payload, secret))
    print(json.dumps(result))
