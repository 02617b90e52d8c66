"""Trivy's databases from a mirror (scanner.db_repository / java_db_repository), for real:
a database pushed as an OCI artifact, the way Trivy's publishers push it, to the test
registry, and the real Trivy fetching it from there, for a scan or once for the workers
(`shipline scanner fetch-db`). The database holds its metadata only (the real one cannot be
downloaded here); Trivy opens an empty database beside it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from services.cli import main
from services.common.errors import PermanentError
from services.common.stage_settings import ScannerSettings
from services.devenv.registry import Registry
from services.scanner.report import findings_from_report
from services.scanner.trivy import Trivy
from services.scanner.trivy_db import fetch_db, read_metadata
from tests.scanner.db_artifact import push_db
from tests.scanner.images import Pushed, aws_key_pair, build_and_push

UPDATED_AT = "2026-11-30T06:00:00Z"
NEXT_UPDATE = "2099-01-01T00:00:00Z"  # never due: an online scan does not fetch it again


def metadata(version: int, updated_at: str = UPDATED_AT) -> bytes:
    fields = {"NextUpdate": NEXT_UPDATE, "UpdatedAt": updated_at, "DownloadedAt": updated_at}
    return json.dumps({"Version": version, **fields}).encode()


@pytest.fixture
def mirror(registry: Registry) -> str:
    """A fresh repository path on the test registry holding the vulnerability DB (:2) and
    the Java DB (:1), as a mirror of ghcr.io/aquasecurity would."""
    path = f"mirror-{secrets.token_hex(4)}"
    push_db(registry, f"{path}/trivy-db", "2", "db", {"metadata.json": metadata(2)})
    java_files = {"metadata.json": metadata(1, "2026-11-28T01:00:00Z"), "trivy-java.db": b""}
    push_db(registry, f"{path}/trivy-java-db", "1", "java-db", java_files)
    return f"{registry.host}/{path}"


@pytest.fixture(scope="module")
def leaky_image(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    files = {"config.env": aws_key_pair(), "app.txt": "hello\n"}
    return build_and_push(docker_client, registry, "tests/db-mirror", base_image, files)


def test_an_online_scan_downloads_the_vulnerability_db_from_the_configured_mirror(
    trivy_path: Path, tmp_path: Path, mirror: str, leaky_image: Pushed
) -> None:
    cache = tmp_path / "cache"
    trivy = Trivy(
        str(trivy_path), ["vuln", "secret"], 120, cache, offline=False,
        db_repository=(f"{mirror}/trivy-db:2",),
    )  # fmt: skip

    findings = findings_from_report(trivy.scan(leaky_image.by_digest))

    assert "aws-access-key-id" in {f.id for f in findings}
    fetched = read_metadata(cache)
    assert fetched is not None and fetched.UpdatedAt.isoformat() == "2026-11-30T06:00:00+00:00"


def test_an_online_scan_whose_mirror_holds_no_db_fails_naming_the_mirror(
    trivy_path: Path, tmp_path: Path, registry: Registry, leaky_image: Pushed
) -> None:
    empty = f"{registry.host}/no-such-mirror/trivy-db:2"
    trivy = Trivy(
        str(trivy_path), ["vuln"], 120, tmp_path / "cache", offline=False,
        db_repository=(empty,),
    )  # fmt: skip

    with pytest.raises(PermanentError) as caught:  # retrying cannot fill the mirror
        trivy.scan(leaky_image.by_digest)

    assert f"could not download its vulnerability DB from {empty}" in str(caught.value)
    assert "manifest unknown" in str(caught.value).lower()


def test_the_db_and_java_db_fetched_once_from_the_mirror_serve_offline_scans(
    trivy_path: Path, tmp_path: Path, mirror: str, leaky_image: Pushed
) -> None:
    settings = ScannerSettings(
        trivy_path=str(trivy_path),
        db_repository=f"{mirror}/trivy-db:2",
        java_db_repository=[f"{mirror}/trivy-java-db:1"],
    )
    cache = tmp_path / "shared-cache"

    db = fetch_db(settings, cache, "db")
    java_db = fetch_db(settings, cache, "java-db")
    offline = Trivy(str(trivy_path), ["vuln", "secret"], 120, cache)  # offline: no download
    findings = findings_from_report(offline.scan(leaky_image.by_digest))

    assert db.sources == (f"{mirror}/trivy-db:2",)
    assert db.metadata is not None and f"{db.metadata.UpdatedAt:%Y-%m-%d}" == "2026-11-30"
    assert java_db.metadata is not None and f"{java_db.metadata.UpdatedAt:%Y-%m-%d}" == "2026-11-28"
    assert (cache / "java-db" / "trivy-java.db").is_file()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".fetch-")] == []
    assert "aws-access-key-id" in {f.id for f in findings}


def test_fetching_again_replaces_the_db_files_under_a_scan_that_holds_them_open(
    trivy_path: Path, tmp_path: Path, mirror: str, registry: Registry
) -> None:
    settings = ScannerSettings(trivy_path=str(trivy_path), db_repository=f"{mirror}/trivy-db:2")
    cache = tmp_path / "cache"
    fetch_db(settings, cache)
    newer = {"metadata.json": metadata(2, "2026-12-05T06:00:00Z")}
    push_db(registry, mirror.split("/", 1)[1] + "/trivy-db", "2", "db", newer)

    with (cache / "db" / "metadata.json").open() as held_open:
        fetch_db(settings, cache)
        assert json.load(held_open)["UpdatedAt"] == UPDATED_AT  # the old file, still whole

    refreshed = read_metadata(cache)
    assert refreshed is not None and f"{refreshed.UpdatedAt:%Y-%m-%d}" == "2026-12-05"


def test_fetching_from_a_mirror_that_holds_no_db_names_the_mirror_and_the_setting(
    trivy_path: Path, tmp_path: Path, registry: Registry
) -> None:
    empty = f"{registry.host}/no-such-mirror/trivy-db:2"
    settings = ScannerSettings(trivy_path=str(trivy_path), db_repository=empty)

    with pytest.raises(PermanentError) as caught:
        fetch_db(settings, tmp_path / "cache")

    message = str(caught.value)
    assert f"could not fetch the vulnerability DB from {empty}" in message
    assert "check scanner.db_repository" in message
    assert read_metadata(tmp_path / "cache") is None


def test_shipline_scanner_fetch_db_fills_the_configured_cache_and_says_from_where(
    trivy_path: Path, tmp_path: Path, mirror: str
) -> None:
    cache = tmp_path / "trivy-cache"
    env = {
        "SHIPLINE_WORKDIR": str(tmp_path / "state"),
        "SHIPLINE_SCANNER__TRIVY_PATH": str(trivy_path),
        "SHIPLINE_SCANNER__CACHE_DIR": str(cache),
        "SHIPLINE_SCANNER__DB_REPOSITORY": f"{mirror}/trivy-db:2",
        "SHIPLINE_SCANNER__JAVA_DB_REPOSITORY": f"{mirror}/trivy-java-db:1",
    }

    result = CliRunner().invoke(main, ["scanner", "fetch-db", "--java"], env=env)

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"vulnerability DB built 2026-11-30 06:00 UTC, next update due 2099-01-01: "
        f"fetched from {mirror}/trivy-db:2 into {cache / 'db'}",
        f"Java DB built 2026-11-28 01:00 UTC, next update due 2099-01-01: "
        f"fetched from {mirror}/trivy-java-db:1 into {cache / 'java-db'}",
    ]


def test_shipline_scanner_fetch_db_from_an_empty_mirror_exits_1_naming_it(
    trivy_path: Path, tmp_path: Path, registry: Registry
) -> None:
    empty = f"{registry.host}/no-such-mirror/trivy-db:2"
    env = {
        "SHIPLINE_WORKDIR": str(tmp_path / "state"),
        "SHIPLINE_SCANNER__TRIVY_PATH": str(trivy_path),
        "SHIPLINE_SCANNER__DB_REPOSITORY": empty,
    }

    result = CliRunner().invoke(main, ["scanner", "fetch-db"], env=env)

    assert result.exit_code == 1
    assert f"Error: could not fetch the vulnerability DB from {empty}" in result.output


def test_the_configured_mirrors_reach_every_scan_command_in_their_order(trivy_path: Path) -> None:
    settings = ScannerSettings(
        trivy_path=str(trivy_path),
        db_repository="registry.lan:5000/trivy-db:2, ghcr.io/aquasecurity/trivy-db:2",
        java_db_repository="registry.lan:5000/trivy-java-db:1",
    )

    command = Trivy.from_settings(settings, Path("/tmp")).command("registry.lan:5000/shop/cart:1")

    assert [arg for arg in command if "db-repository" in arg] == [
        "--db-repository=registry.lan:5000/trivy-db:2",
        "--db-repository=ghcr.io/aquasecurity/trivy-db:2",
        "--java-db-repository=registry.lan:5000/trivy-java-db:1",
    ]
    assert command[-2:] == ["--", "registry.lan:5000/shop/cart:1"]
