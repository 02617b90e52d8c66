"""Find a Docker engine to talk to, or start a private ``dockerd`` (tests and the demo).

Order: ``$DOCKER_HOST`` if it answers, then ``/var/run/docker.sock``, then a dockerd of
our own whose data-root lives in ``state_dir`` (so the layer cache survives) and whose
socket sits at a short well-known path derived from ``state_dir``. Several processes
(parallel test sessions, the demo) share that private daemon, also when one of them
exported its socket as ``$DOCKER_HOST``: a shared ``flock`` marks each user, and whoever
stops last shuts the daemon down, even one an earlier, killed run had started. An engine
reached through ``$DOCKER_HOST`` or the system socket is never stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import docker
from docker.errors import DockerException
from requests.exceptions import RequestException

from services.devenv._process import log_tail

SYSTEM_SOCKET = "unix:///var/run/docker.sock"
_RUN_PREFIX = "shipline-dockerd-"
START_TIMEOUT = 60.0

# Daemons we started but left running for other users: kept referenced so that Popen's
# __del__ does not warn "subprocess is still running" in the middle of a test run.
_LEFT_RUNNING: list[subprocess.Popen[bytes]] = []


class PrivateDockerdError(RuntimeError):
    """dockerd is missing or did not come up."""


def ping(host: str, timeout: float = 3.0) -> bool:
    """True when a Docker engine answers ``/_ping`` at ``host``."""
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False
    try:
        client = docker.DockerClient(base_url=host, timeout=timeout)
    except DockerException:
        return False
    try:
        return bool(client.ping())
    except (DockerException, RequestException, OSError):
        return False
    finally:
        client.close()


def state_dir_under(root: Path) -> Path:
    """Where the private dockerd keeps its data: $SHIPLINE_DEVENV_STATE, else
    `<root>/.shipline/devenv` (kept between runs, so is the layer cache)."""
    return Path(os.environ.get("SHIPLINE_DEVENV_STATE", root / ".shipline" / "devenv"))


def run_dir_for(state_dir: Path) -> Path:
    """Short runtime dir (unix socket paths are limited to ~100 bytes) for ``state_dir``."""
    digest = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:10]
    return Path("/tmp") / f"{_RUN_PREFIX}{digest}"


def _process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _our_dockerd_pid(pidfile: Path, socket_path: Path) -> int | None:
    """The pid in ``pidfile`` if it is a live dockerd serving ``socket_path``."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if not cmdline or not cmdline[0].endswith(b"dockerd") or not _process_alive(pid):
        return None
    return pid if any(str(socket_path).encode() in arg for arg in cmdline) else None


def _terminate_pid(pid: int, timeout: float = 30.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _process_alive(pid):
                return
            time.sleep(0.1)


class PrivateDockerd:
    """A Docker engine endpoint; ``stop()`` only shuts down a private daemon of ours."""

    def __init__(
        self,
        host: str,
        *,
        process: subprocess.Popen[bytes] | None = None,
        run_dir: Path | None = None,
        users_lock: IO[bytes] | None = None,
        log: IO[bytes] | None = None,
        storage_driver: str | None = None,
    ) -> None:
        self.host = host
        self.storage_driver = storage_driver
        self.started_here = process is not None
        self._process = process
        self._run_dir = run_dir
        self._users_lock = users_lock
        self._log = log

    def __repr__(self) -> str:
        return f"PrivateDockerd(host={self.host!r}, started_here={self.started_here})"

    def client(self, timeout: int = 300) -> docker.DockerClient:
        """A new SDK client for this engine; the caller closes it."""
        return docker.DockerClient(base_url=self.host, timeout=timeout)

    @classmethod
    def ensure(cls, state_dir: Path) -> PrivateDockerd:
        env_host = os.environ.get("DOCKER_HOST")
        if env_host:
            env_socket = Path(env_host.removeprefix("unix://"))
            if env_host.startswith("unix://") and env_socket.parent.name.startswith(_RUN_PREFIX):
                # another run's private dockerd: join it as a user so it is not stopped under us
                engine = cls._ensure_private(env_socket.parent, state_dir=None)
                if engine is not None:
                    return engine
            elif ping(env_host):
                return cls(env_host)
        if ping(SYSTEM_SOCKET):
            return cls(SYSTEM_SOCKET)
        state_dir = Path(state_dir).resolve()
        engine = cls._ensure_private(run_dir_for(state_dir), state_dir=state_dir)
        assert engine is not None
        return engine

    @classmethod
    def _ensure_private(cls, run_dir: Path, state_dir: Path | None) -> PrivateDockerd | None:
        """Join the private dockerd of ``run_dir``, or start it (if ``state_dir`` is given)."""
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        host = f"unix://{run_dir / 'd.sock'}"
        users_lock = (run_dir / "users.lock").open("ab")
        with (run_dir / "start.lock").open("ab") as start_lock:
            fcntl.flock(start_lock, fcntl.LOCK_EX)
            fcntl.flock(users_lock, fcntl.LOCK_SH)
            try:
                if ping(host):  # a private dockerd started earlier (maybe by another run)
                    return cls(host, run_dir=run_dir, users_lock=users_lock)
                if state_dir is None:
                    users_lock.close()
                    return None
                return cls._start(state_dir, run_dir, users_lock)
            except BaseException:
                users_lock.close()
                raise
            finally:
                fcntl.flock(start_lock, fcntl.LOCK_UN)

    @classmethod
    def _start(cls, state_dir: Path, run_dir: Path, users_lock: IO[bytes]) -> PrivateDockerd:
        binary = shutil.which("dockerd")
        if binary is None:
            raise PrivateDockerdError(
                "dockerd not found on PATH: install it with `apt-get install docker.io` "
                "(or run `bash deploy/dev/bootstrap.sh`)"
            )
        socket_path, pidfile = run_dir / "d.sock", run_dir / "dockerd.pid"
        stale = _our_dockerd_pid(pidfile, socket_path)
        if stale is not None:  # alive but not answering, and nobody is starting it
            _terminate_pid(stale)
        data_root = state_dir / "docker"
        data_root.mkdir(parents=True, exist_ok=True)
        log_path = state_dir / "dockerd.log"
        failures: list[str] = []
        for driver in ("overlay2", "vfs"):
            log = log_path.open("ab")
            log.write(f"\n=== shipline: starting dockerd ({driver}) ===\n".encode())
            log.flush()
            process = subprocess.Popen(
                [
                    binary,
                    "--data-root",
                    str(data_root),
                    "--exec-root",
                    str(run_dir / "e"),
                    "-H",
                    f"unix://{socket_path}",
                    "--pidfile",
                    str(pidfile),
                    "--storage-driver",
                    driver,
                    "--iptables=false",
                    "--ip-masq=false",
                    "--bridge=none",
                ],  # fmt: skip
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C of the test run must not kill it mid-use
            )
            host = f"unix://{socket_path}"
            if cls._wait_ready(process, host):
                return cls(
                    host,
                    process=process,
                    run_dir=run_dir,
                    users_lock=users_lock,
                    log=log,
                    storage_driver=driver,
                )
            _stop_process(process)
            log.close()
            failures.append(f"--- storage driver {driver} ---\n{log_tail(log_path)}")
        raise PrivateDockerdError(
            f"dockerd did not answer on {socket_path} within {START_TIMEOUT:.0f}s "
            f"(log {log_path}):\n" + "\n".join(failures)
        )

    @staticmethod
    def _wait_ready(process: subprocess.Popen[bytes], host: str) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if ping(host, timeout=2.0):
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        """Release this user; shut the private daemon down if no other user holds it."""
        users_lock, self._users_lock = self._users_lock, None
        if users_lock is None or self._run_dir is None:
            return
        run_dir = self._run_dir
        try:
            with (run_dir / "start.lock").open("ab") as start_lock:
                fcntl.flock(start_lock, fcntl.LOCK_EX)
                try:
                    fcntl.flock(users_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another run uses the daemon: the last one stops it
                    if self._process is not None:
                        _LEFT_RUNNING.append(self._process)
                    return
                if self._process is not None:
                    _stop_process(self._process)
                else:
                    pid = _our_dockerd_pid(run_dir / "dockerd.pid", run_dir / "d.sock")
                    if pid is not None:
                        _terminate_pid(pid)
        finally:
            users_lock.close()
            self._process = None
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> PrivateDockerd:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def ensure_private_dockerd(state_dir: Path) -> PrivateDockerd:
    return PrivateDockerd.ensure(state_dir)
