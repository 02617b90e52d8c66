"""Git remotes that require credentials, for tests: smart HTTP with a token, and sshd with a key.

`GitHttpServer` runs `git http-backend` behind HTTP basic auth (the token as password);
`SshGitServer` runs a private `sshd` (Debian `openssh-server`) on loopback that accepts
one generated key. Both serve the bare repositories under a root directory.
"""

from __future__ import annotations

import base64
import hmac
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from services.devenv._process import free_port, terminate


class GitServerError(RuntimeError):
    """git or sshd is missing, or the server did not come up."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


class GitHttpServer:
    """`http://127.0.0.1:PORT/<name>.git` for every bare repository under `root`."""

    def __init__(self, root: Path, username: str, token: str) -> None:
        self.root = root
        self._expected = "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()
        self.requests: list[str] = []  # Authorization headers seen (to show what was sent)
        self._server: WSGIServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> GitHttpServer:
        backend = subprocess.run(
            ["git", "--exec-path"], capture_output=True, text=True, check=True
        ).stdout.strip()
        self._backend = str(Path(backend) / "git-http-backend")
        self._server = make_server(
            "127.0.0.1", 0, self._app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        given = environ.get("HTTP_AUTHORIZATION", "")
        self.requests.append(given)
        if not hmac.compare_digest(given.encode(), self._expected.encode()):
            start("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"unauthorized\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "shipline",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE"):
            cgi[key] = environ.get(key, "")
        cgi["CONTENT_LENGTH"] = str(len(body))
        for key, value in environ.items():
            if key.startswith("HTTP_") and key != "HTTP_AUTHORIZATION":
                cgi[key] = value
        result = subprocess.run(
            [self._backend], input=body, capture_output=True, env=cgi, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        start(status, headers)
        return [payload]


class SshGitServer:
    """`ssh://root@127.0.0.1:PORT/<root>/<name>.git`, accepting only the generated key."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def private_key(self) -> str:
        return (self.workdir / "client_key").read_text()

    def url(self, repository: Path) -> str:
        return f"ssh://{os.environ.get('USER', 'root')}@127.0.0.1:{self.port}{repository}"

    def start(self, timeout: float = 15.0) -> SshGitServer:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not Path(sshd).exists():
            raise GitServerError(
                "sshd not found: install it with `apt-get install openssh-server` "
                "(or run `bash deploy/dev/bootstrap.sh`)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        for key in ("host_key", "client_key"):
            if not (self.workdir / key).exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.workdir / key)],
                    check=True,
                )
        (self.workdir / "authorized_keys").write_text((self.workdir / "client_key.pub").read_text())
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation
        self.port = free_port()
        config = self.workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.workdir / 'host_key'}",
                    f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
                    f"PidFile {self.workdir / 'sshd.pid'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "",
                ]
            )
        )
        with (self.workdir / "sshd.log").open("ab") as log:  # the child keeps its own copy
            self._process = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        tail = (self.workdir / "sshd.log").read_text(errors="replace")[-2000:]
        raise GitServerError(f"sshd did not come up on port {self.port}:\n{tail}")

    def stop(self) -> None:
        process, self._process = self._process, None
        terminate(process)
