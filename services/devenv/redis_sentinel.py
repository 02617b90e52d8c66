"""A Redis master, its replica and Sentinels watching them, on loopback ports (tests, demos).

Three Sentinels with a quorum of two, as production runs them: one Sentinel alone would do
for a test (quorum 1), but then it both decides the master is down and elects itself, and
the majority vote a real failover goes through is never exercised. The master, replica and
Sentinels share one generated data password; the Sentinels have their own (``requirepass``,
``sentinel sentinel-pass``), so the URL carries both, as it would in production.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.devenv._process import die_with_parent, free_port, log_tail, terminate
from services.devenv.redis_server import RedisServer, RedisServerError, find_redis_server


class SentinelGroup:
    def __init__(
        self,
        workdir: Path,
        *,
        master_name: str = "shipline",
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        binary: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.master_name = master_name
        self.sentinel_count = sentinels
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.binary = binary
        self.password = secrets.token_urlsafe(32)
        self.sentinel_password = secrets.token_urlsafe(32)
        self.servers: list[RedisServer] = []  # the first started as master, then its replica
        self.sentinel_ports: list[int] = []
        self._sentinels: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    @property
    def url(self) -> str:
        """Shipline's `redis_url` for this group (both passwords in it)."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return (
            f"sentinel://:{self.password}@{hosts}/0?master={self.master_name}"
            f"&sentinel_password={self.sentinel_password}"
        )

    def start(self, timeout: float = 30.0) -> SentinelGroup:
        binary = self.binary or find_redis_server()
        auth = f"masterauth {self.password}"
        master = RedisServer(
            self.workdir / "master", binary=binary, password=self.password, config=[auth]
        )
        self.servers.append(master.start())
        replica_of = f"replicaof 127.0.0.1 {master.port}"
        replica = RedisServer(
            self.workdir / "replica",
            binary=binary,
            password=self.password,
            config=[auth, replica_of],
        )
        self.servers.append(replica.start())
        self._wait(lambda: self._replica_in_sync(replica), timeout, "the replica to sync")
        for index in range(self.sentinel_count):
            self._start_sentinel(binary, index, master.port)
        self._wait(self._sentinels_agree, timeout, "the Sentinels to see each other")
        return self

    def master(self) -> RedisServer:
        """The server the Sentinels name master now."""
        _, port = self._master_address()
        return next(server for server in self.servers if server.port == port)

    def wait_for_new_master(self, old: RedisServer, timeout: float = 60.0) -> RedisServer:
        """Block until the Sentinels promoted another server than `old` and it takes writes."""

        def promoted() -> bool:
            current = self.master()
            return current is not old and self._role(current) == "master"

        self._wait(promoted, timeout, "the Sentinels to promote the replica")
        return self.master()

    def _start_sentinel(self, binary: Path, index: int, master_port: int) -> None:
        directory = self.workdir / f"sentinel-{index}"
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)  # the config holds both passwords
        port = free_port()
        name = self.master_name
        config = directory / "sentinel.conf"  # Sentinel rewrites it: a file, not stdin
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {directory}\n"
            f"requirepass {self.sentinel_password}\n"
            f"sentinel sentinel-pass {self.sentinel_password}\n"
            f"sentinel monitor {name} 127.0.0.1 {master_port} {self.quorum}\n"
            f"sentinel auth-pass {name} {self.password}\n"
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}\n"
            f"sentinel failover-timeout {name} {max(5000, self.down_after_ms * 5)}\n"
        )
        config.chmod(0o600)
        log = (directory / "sentinel.log").open("ab")
        self._logs.append(log)
        self._sentinels.append(
            subprocess.Popen(
                [str(binary), str(config), "--sentinel"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
                preexec_fn=die_with_parent,
            )
        )
        self.sentinel_ports.append(port)

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=port,
            password=self.sentinel_password,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def _master_address(self) -> tuple[str, int]:
        for port in self.sentinel_ports:
            client = self._sentinel(port)
            try:
                answer: Any = client.sentinel_get_master_addr_by_name(self.master_name)
                return str(answer[0]), int(answer[1])
            except (redis.RedisError, OSError):
                continue
            finally:
                client.close()
        raise RedisServerError("no Sentinel answered")

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            client = self._sentinel(port)
            try:
                facts: Any = client.sentinel_master(self.master_name)
            except (redis.RedisError, OSError):
                return False
            finally:
                client.close()
            if int(facts["num-slaves"]) < 1:
                return False
            if int(facts["num-other-sentinels"]) < self.sentinel_count - 1:
                return False
        return True

    def _role(self, server: RedisServer) -> str:
        client = redis.Redis(
            host="127.0.0.1", port=server.port, password=self.password, socket_timeout=2
        )
        try:
            return str(client.info("replication")["role"])
        except (redis.RedisError, OSError):
            return "unreachable"
        finally:
            client.close()

    def _replica_in_sync(self, replica: RedisServer) -> bool:
        client = redis.Redis(
            host="127.0.0.1", port=replica.port, password=self.password, socket_timeout=2
        )
        try:
            return client.info("replication").get("master_link_status") == "up"
        finally:
            client.close()

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        logs = "\n".join(
            f"--- {path}:\n{log_tail(path, 10)}" for path in self.workdir.glob("*/*.log")
        )
        raise RedisServerError(f"timed out after {timeout}s waiting for {what}\n{logs}")

    def stop(self) -> None:
        for process in self._sentinels:
            terminate(process)
        for log in self._logs:
            log.close()
        for server in self.servers:
            server.stop()
        self._sentinels, self._logs = [], []

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
