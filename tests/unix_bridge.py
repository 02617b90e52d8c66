"""Forward a unix socket to a TCP address: `python -m tests.unix_bridge SOCKET HOST PORT`.

The only way in or out of a network namespace with no interface but its own loopback (see
tests/e2e/test_gateway_without_git.py): Redis reached through a socket on the host's side,
the gateway's port through a socket made inside the namespace."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from pathlib import Path


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def serve(path: Path, host: str, port: int) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
