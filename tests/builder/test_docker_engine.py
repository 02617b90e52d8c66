"""DockerEngine against the real test dockerd and docker-registry (plain and htpasswd)."""

from __future__ import annotations

import gc
import io
import socket
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest

from services.builder.docker_engine import DockerEngine
from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import RegistryLogin
from services.devenv.registry import Registry

pytestmark = pytest.mark.integration

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


@pytest.fixture
def login(auth_registry: Registry) -> RegistryLogin:
    assert auth_registry.auth is not None
    return RegistryLogin(*auth_registry.auth)


def test_build_and_push_returns_the_digest_the_registry_holds_for_every_tag(
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    marker = uuid.uuid4().hex[:8]
    labels = {"org.opencontainers.image.revision": "abc1234" + "0" * 33, "test.marker": marker}

    result = engine.build_and_push(
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
    engine: DockerEngine, base_image: str, registry: Registry
) -> None:
    marker = uuid.uuid4().hex[:8]
    dockerfile = f"FROM {base_image}\nRUN echo step-output-{marker} && exit 3\n"

    with pytest.raises(PermanentError) as caught:
        engine.build_and_push(
            context_tar({"Dockerfile": dockerfile}),
            "Dockerfile",
            f"{registry.host}/tests/broken",
            ["sha-bad0000"],
            {},
            None,
        )

    message = str(caught.value)
    assert f"step-output-{marker}" in message
    assert "returned a non-zero code: 3" in message
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
