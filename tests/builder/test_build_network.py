"""RUN steps' network on the real test dockerd (started with --bridge=none), both builders:
none by default, the engine's bridge when a service opts in, never the host's."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import docker
import pytest

from services.builder.docker_engine import DockerEngine
from services.common.errors import PermanentError
from services.devenv.registry import Registry
from tests.builder.test_docker_engine import context_tar


class Listener:
    """A TCP server on the host's loopback that counts who connects to it."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture(params=["buildkit", "classic"])
def engine(request: pytest.FixtureRequest, docker_client: docker.DockerClient) -> DockerEngine:
    return DockerEngine(docker_client, backend=request.param)


def reaching_for(base_image: str, port: int) -> bytes:
    """A Dockerfile whose RUN step connects to the host's loopback and says how it went."""
    step = (
        f"RUN echo {uuid.uuid4().hex} && "
        f'if nc -w 2 127.0.0.1 {port} </dev/null; then echo REACHED-THE""-HOST; '
        'else echo NO-ROUTE-TO""-THE-HOST; fi'  # the quotes keep the words out of the step's title
    )
    return context_tar({"Dockerfile": f"FROM {base_image}\n{step}\n"})


def test_a_run_step_gets_no_network_and_cannot_reach_the_hosts_loopback(
    engine: DockerEngine, base_image: str, registry: Registry, listener: Listener
) -> None:
    lines: list[str] = []
    name = f"net{uuid.uuid4().hex[:8]}/svc"

    engine.build_and_push(
        reaching_for(base_image, listener.port),
        "Dockerfile",
        f"{registry.host}/{name}",
        ["sha-0000000"],
        {},
        None,
        on_line=lines.append,
    )

    output = "\n".join(lines)
    assert "NO-ROUTE-TO-THE-HOST" in output and "REACHED-THE-HOST" not in output
    assert listener.connections == 0


def test_opting_into_network_on_an_engine_without_a_bridge_fails_and_never_uses_the_host(
    engine: DockerEngine, base_image: str, registry: Registry, listener: Listener
) -> None:
    name = f"net{uuid.uuid4().hex[:8]}/svc"

    with pytest.raises(PermanentError, match="no bridge network") as refused:
        engine.build_and_push(
            reaching_for(base_image, listener.port),
            "Dockerfile",
            f"{registry.host}/{name}",
            ["sha-0000000"],
            {},
            None,
            network=True,
        )

    assert "network: true" in str(refused.value)
    assert listener.connections == 0
    assert registry.tags(name) == []


def test_on_an_engine_with_a_bridge_opting_in_gets_the_bridge_and_never_host(
    docker_client: docker.DockerClient,
) -> None:
    """No engine with a bridge can run here (no iptables): the engine's answer is stubbed."""
    engine = DockerEngine(docker_client)
    engine.__dict__["_has_bridge"] = True

    assert engine._network_mode(True) == "default"  # noqa: SLF001
    assert engine._network_mode(False) == "none"  # noqa: SLF001
