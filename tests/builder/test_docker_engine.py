"""DockerEngine against the real test dockerd and docker-registry (plain and htpasswd)."""

from __future__ import annotations

import contextlib
import gc
import io
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import psutil
import pytest

from services.builder.docker_engine import BuildInterrupted, DockerEngine
from services.builder.registry import RegistryClient
from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import RegistryLogin
from services.devenv.registry import Registry

REPOSITORY = "tests/svc"


def context_tar(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def app_context(base_image: str, marker: str) -> bytes:
    dockerfile = (
        f"FROM {base_image}\n"
        "COPY app.txt /app/app.txt\n"
        f'RUN echo "built-{marker}" && cp /app/app.txt /app/copy.txt\n'
    )
    return context_tar({"Dockerfile": dockerfile, "app.txt": f"hello {marker}\n"})


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> DockerEngine:
    return DockerEngine(docker_client)


@pytest.fixture(params=["buildkit", "classic"])
def either_engine(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient
) -> DockerEngine:
    """Both of the engine's builders (settings: builder.backend)."""
    return DockerEngine(docker_client, backend=request.param)


@pytest.fixture
def login(auth_registry: Registry) -> RegistryLogin:
    assert auth_registry.auth is not None
    return RegistryLogin(*auth_registry.auth)


def test_build_and_push_returns_the_digest_the_registry_holds_for_every_tag(
    either_engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    marker = uuid.uuid4().hex[:8]
    labels = {"org.opencontainers.image.revision": "abc1234" + "0" * 33, "test.marker": marker}

    result = either_engine.build_and_push(
        app_context(base_image, marker),
        "Dockerfile",
        f"{registry.host}/{REPOSITORY}",
        ["sha-abc1234", "latest"],
        labels,
        None,
    )

    assert result.digest.startswith("sha256:")
    assert result.digest == registry.manifest_digest(REPOSITORY, "sha-abc1234")
    assert registry.manifest_digest(REPOSITORY, "latest") == result.digest
    assert {"sha-abc1234", "latest"} <= set(registry.tags(REPOSITORY))
    assert registry.config_labels(REPOSITORY, "sha-abc1234").items() >= labels.items()
    assert any(f"built-{marker}" in line for line in result.log_tail)
    assert result.seconds > 0


def test_build_honours_a_dockerfile_outside_the_context_root(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    context = context_tar(
        {"docker/Dockerfile.svc": f"FROM {base_image}\nCOPY app.txt /app.txt\n", "app.txt": "x\n"}
    )

    result = engine.build_and_push(
        context, "docker/Dockerfile.svc", f"{registry.host}/tests/other", ["sha-1111111"], {}, None
    )

    assert result.digest == registry.manifest_digest("tests/other", "sha-1111111")


# The build stream is not closed when a step fails: collected later in a reference cycle
# (`caught` -> traceback -> this frame) its socket warns "unclosed". Collect it here.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_failing_run_step_is_a_permanent_error_carrying_the_step_output(
    either_engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    marker = uuid.uuid4().hex[:8]
    dockerfile = f"FROM {base_image}\nRUN echo step-output-{marker} && exit 3\n"

    with pytest.raises(PermanentError) as caught:
        either_engine.build_and_push(
            context_tar({"Dockerfile": dockerfile}),
            "Dockerfile",
            f"{registry.host}/tests/broken",
            ["sha-bad0000"],
            {},
            None,
        )

    message = str(caught.value)
    assert f"step-output-{marker}" in message
    assert message.splitlines()[0].endswith(("exit code: 3", "returned a non-zero code: 3"))
    assert registry.tags("tests/broken") == []
    del caught
    gc.collect()


def test_missing_dockerfile_is_a_permanent_error(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    with pytest.raises(PermanentError):
        engine.build_and_push(
            context_tar({"app.txt": "x\n"}),
            "Dockerfile",
            f"{registry.host}/tests/nodockerfile",
            ["sha-0000000"],
            {},
            None,
        )


def test_dockerfile_syntax_error_is_a_permanent_error(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    dockerfile = f"FROM {base_image}\nFOO bar\n"

    with pytest.raises(PermanentError, match="unknown instruction"):
        engine.build_and_push(
            context_tar({"Dockerfile": dockerfile}),
            "Dockerfile",
            f"{registry.host}/tests/syntax",
            ["sha-0000000"],
            {},
            None,
        )


def test_copy_of_a_file_missing_from_the_context_is_a_permanent_error(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    dockerfile = f"FROM {base_image}\nCOPY absent.txt /absent.txt\n"

    with pytest.raises(PermanentError, match="absent.txt"):
        engine.build_and_push(
            context_tar({"Dockerfile": dockerfile}),
            "Dockerfile",
            f"{registry.host}/tests/copy",
            ["sha-0000000"],
            {},
            None,
        )


def test_invalid_image_repository_is_a_permanent_error(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    with pytest.raises(PermanentError):
        engine.build_and_push(
            app_context(base_image, "badname"),
            "Dockerfile",
            f"{registry.host}/Tests/UPPER",
            ["sha-0000000"],
            {},
            None,
        )


def test_push_with_wrong_credentials_fails_fast_and_permanently_without_the_password(
    engine: DockerEngine, base_image: str, auth_registry: Registry, login: RegistryLogin
) -> None:
    wrong = RegistryLogin(login.username, "not-the-" + login.password)
    started = time.monotonic()

    with pytest.raises(PermanentError) as caught:
        engine.build_and_push(
            app_context(base_image, "wrong-login"),
            "Dockerfile",
            f"{auth_registry.host}/{REPOSITORY}",
            ["sha-abc1234"],
            {},
            wrong,
        )

    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert "registry_auth" in message
    assert wrong.password not in message
    assert login.password not in message


def test_push_without_credentials_to_an_auth_registry_is_a_permanent_error(
    engine: DockerEngine, base_image: str, auth_registry: Registry
) -> None:
    with pytest.raises(PermanentError, match="registry_auth"):
        engine.build_and_push(
            app_context(base_image, "no-login"),
            "Dockerfile",
            f"{auth_registry.host}/{REPOSITORY}",
            ["sha-abc1234"],
            {},
            None,
        )


def test_push_with_the_right_login_reaches_the_auth_registry(
    engine: DockerEngine, base_image: str, auth_registry: Registry, login: RegistryLogin
) -> None:
    result = engine.build_and_push(
        app_context(base_image, uuid.uuid4().hex[:8]),
        "Dockerfile",
        f"{auth_registry.host}/{REPOSITORY}",
        ["sha-abc1234", "latest"],
        {"test.auth": "yes"},
        login,
    )

    assert result.digest == auth_registry.manifest_digest(REPOSITORY, "sha-abc1234")
    assert auth_registry.manifest_digest(REPOSITORY, "latest") == result.digest
    assert auth_registry.config_labels(REPOSITORY, "latest")["test.auth"] == "yes"


def test_push_to_a_registry_that_is_down_is_a_transient_error(
    engine: DockerEngine, base_image: str
) -> None:
    with pytest.raises(TransientError):
        engine.build_and_push(
            app_context(base_image, "down"),
            "Dockerfile",
            f"127.0.0.1:{unused_port()}/{REPOSITORY}",
            ["sha-abc1234"],
            {},
            None,
        )


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # docker SDK leaks the failed socket
def test_an_unreachable_engine_is_a_transient_error(tmp_path: Path, base_image: str) -> None:
    client = docker.DockerClient(
        base_url=f"unix://{tmp_path}/missing.sock", version="1.41", timeout=5
    )
    try:
        with pytest.raises(TransientError):
            DockerEngine(client).build_and_push(
                app_context(base_image, "nodaemon"), "Dockerfile", "x/y", ["t"], {}, None
            )
    finally:
        client.close()
        gc.collect()


# --- build options, cache source, cancellation, push order and retries -----------------


def manifest_layers(registry: Registry, repository: str, tag: str) -> list[str]:
    import httpx

    with httpx.Client(base_url=registry.url, auth=registry.auth, timeout=10) as client:
        response = client.get(
            f"/v2/{repository}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        response.raise_for_status()
    return [layer["digest"] for layer in response.json()["layers"]]


def remove_local_images(client: docker.DockerClient, repository: str) -> None:
    for image in client.images.list(name=repository):
        client.images.remove(image.id, force=True)
    assert client.images.list(name=repository) == []


def test_build_args_and_target_stage_shape_the_image(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    dockerfile = (
        f"FROM {base_image} AS runtime\n"
        "ARG FLAVOUR=plain\n"
        'LABEL test.flavour="$FLAVOUR" test.stage=runtime\n'
        f"FROM {base_image} AS debug\n"
        "LABEL test.stage=debug\n"
    )
    name = f"opts{uuid.uuid4().hex[:8]}/svc"

    engine.build_and_push(
        context_tar({"Dockerfile": dockerfile}),
        "Dockerfile",
        f"{registry.host}/{name}",
        ["sha-0000001"],
        {},
        None,
        build_args={"FLAVOUR": "spicy"},
        target="runtime",
    )

    labels = registry.config_labels(name, "sha-0000001")
    assert labels["test.flavour"] == "spicy"
    assert labels["test.stage"] == "runtime"


def test_a_pulled_previous_image_is_the_cache_that_keeps_an_unchanged_step(
    engine: DockerEngine, docker_client: docker.DockerClient, base_image: str, registry: Registry
) -> None:
    """The RUN step writes a random value: identical layers prove it was not run again."""
    name = f"cache{uuid.uuid4().hex[:8]}/svc"
    repository = f"{registry.host}/{name}"
    dockerfile = (
        f"FROM {base_image}\n"
        f"RUN echo {name} && cat /proc/sys/kernel/random/uuid > /stamp\n"
        "COPY app.txt /app.txt\n"
    )

    def build(version: str, tags: list[str], cache_from: list[str]) -> object:
        files = {"Dockerfile": dockerfile, "app.txt": version}
        return engine.build_and_push(
            context_tar(files), "Dockerfile", repository, tags, {}, None, cache_from=cache_from
        )

    build("one", ["sha-1111111", "latest"], [f"{repository}:latest"])
    remove_local_images(docker_client, repository)  # only the registry still has it

    second = build(
        "two", ["sha-2222222", "latest"], [f"{repository}:sha-0000000", f"{repository}:latest"]
    )

    first_layers = manifest_layers(registry, name, "sha-1111111")
    second_layers = manifest_layers(registry, name, "sha-2222222")
    assert second.cache_source == f"{repository}:latest"  # the missing tag was skipped
    assert second.cached_steps == 1
    assert second_layers[:-1] == first_layers[:-1]  # base + the RUN step's random stamp
    assert second_layers[-1] != first_layers[-1]  # the changed COPY


def test_a_cache_source_that_cannot_be_pulled_only_means_no_cache(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    lines: list[str] = []
    name = f"nocache{uuid.uuid4().hex[:8]}/svc"

    result = engine.build_and_push(
        app_context(base_image, name),
        "Dockerfile",
        f"{registry.host}/{name}",
        ["sha-3333333"],
        {},
        None,
        cache_from=[f"{registry.host}/{name}:latest"],
        on_line=lines.append,
    )

    assert result.cache_source is None
    assert any("not used" in line for line in lines)
    assert registry.manifest_digest(name, "sha-3333333") == result.digest


def test_a_build_past_its_timeout_is_cancelled_and_leaves_no_container(
    engine: DockerEngine, docker_client: docker.DockerClient, base_image: str, registry: Registry
) -> None:
    marker = uuid.uuid4().hex[:8]
    dockerfile = f"FROM {base_image}\nRUN echo {marker} && sleep 60\n"
    started = time.monotonic()

    with pytest.raises(BuildInterrupted) as caught:
        engine.build_and_push(
            context_tar({"Dockerfile": dockerfile}),
            "Dockerfile",
            f"{registry.host}/tests/slow",
            ["sha-4444444"],
            {},
            None,
            timeout=2,
        )

    assert time.monotonic() - started < 10
    assert caught.value.reason == "timeout"
    assert "timeout" in str(caught.value)
    assert_step_stops(marker)
    running = [c for c in docker_client.containers.list(all=True) if marker in str(c.attrs)]
    assert running == []
    assert registry.tags("tests/slow") == []


def test_an_interrupt_stops_a_running_build_with_its_reason(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    marker = uuid.uuid4().hex
    dockerfile = f"FROM {base_image}\nRUN echo {marker} && sleep 60\n"
    lines: list[str] = []
    started = time.monotonic()

    def interrupt() -> str | None:
        return "superseded" if any(" RUN echo " in line for line in lines) else None

    with pytest.raises(BuildInterrupted) as caught:
        engine.build_and_push(
            context_tar({"Dockerfile": dockerfile}),
            "Dockerfile",
            f"{registry.host}/tests/interrupted",
            ["sha-5555555"],
            {},
            None,
            on_line=lines.append,
            interrupt=interrupt,
        )

    assert caught.value.reason == "superseded"
    assert time.monotonic() - started < 10
    assert_step_stops(marker)


def assert_step_stops(marker: str) -> None:
    """The engine killed the RUN step (BuildKit goes on unless the build is cancelled)."""

    def step_processes() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            if any(marker in part for part in process.info["cmdline"] or ()):
                found.append(process)
        return found

    deadline = time.monotonic() + 10
    while step_processes():
        assert time.monotonic() < deadline, f"the RUN step holding {marker} is still running"
        time.sleep(0.2)


def test_the_first_tag_is_pushed_last_so_it_marks_a_complete_push(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    lines: list[str] = []
    name = f"order{uuid.uuid4().hex[:8]}/svc"

    engine.build_and_push(
        app_context(base_image, name),
        "Dockerfile",
        f"{registry.host}/{name}",
        ["sha-6666666", "latest"],
        {},
        None,
        on_line=lines.append,
    )

    pushes = [line.split(":")[0] for line in lines if line.startswith("push ")]
    assert pushes.index("push latest") < pushes.index("push sha-6666666")
    assert pushes[-1] == "push sha-6666666"


def test_with_retag_the_engine_pushes_one_tag_and_the_registry_gets_the_rest_first_tag_last(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    lines: list[str] = []
    retagged: list[tuple[str, str]] = []
    name = f"retag{uuid.uuid4().hex[:8]}/svc"
    tags = ["sha-7777777", "latest", "extra"]

    def retag(digest: str, tag: str) -> None:
        assert registry.manifest_digest(name, tag) is None  # not pushed by the engine
        with RegistryClient(registry.host, None) as client:
            client.tag(name, digest, tag)
        retagged.append((digest, tag))

    result = engine.build_and_push(
        app_context(base_image, name),
        "Dockerfile",
        f"{registry.host}/{name}",
        tags,
        {},
        None,
        on_line=lines.append,
        retag=retag,
    )

    pushed = {line.split(":")[0] for line in lines if line.startswith("push ")}
    assert pushed == {"push latest"}
    assert retagged == [(result.digest, "extra"), (result.digest, "sha-7777777")]
    assert {registry.manifest_digest(name, tag) for tag in tags} == {result.digest}


class Forwarder:
    """A TCP port that opens late and then forwards to the registry: a registry blip."""

    def __init__(self, target_port: int) -> None:
        self.port = unused_port()
        self.opened = False
        self._target = target_port
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def open(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        self._sockets.append(server)
        self.opened = True
        self._start(self._serve, server)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, upstream]
            self._start(self._pipe, client, upstream)
            self._start(self._pipe, upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


def test_a_push_that_fails_while_the_registry_is_away_is_retried_with_backoff(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    forwarder = Forwarder(registry.port)
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if "retrying in" in line and not forwarder.opened:
            forwarder.open()  # the registry comes back after the first failed push

    name = f"retry{uuid.uuid4().hex[:8]}/svc"
    try:
        result = engine.build_and_push(
            app_context(base_image, name),
            "Dockerfile",
            f"127.0.0.1:{forwarder.port}/{name}",
            ["sha-7777777"],
            {},
            None,
            on_line=on_line,
        )
    finally:
        forwarder.close()

    assert any("retrying in" in line for line in lines)
    assert registry.manifest_digest(name, "sha-7777777") == result.digest
