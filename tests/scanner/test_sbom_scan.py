"""Every scanned image gets a CycloneDX SBOM: real Trivy on a real image in the real registry
(distribution 2.8, so found again through the referrers tag), kept with the run and served by
the API, attached once however often the scan is handled, and never blocking the deploy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from services.common.events import Envelope, ScanPassed
from services.common.runtime import Runtime
from services.common.sbom_record import SbomRecord, SbomRecords
from services.devenv.registry import Registry
from services.gateway.app import create_app
from services.scanner.sbom import OCI_INDEX, OCI_MANIFEST, SBOM_MEDIA_TYPE
from services.scanner.task import make_handler
from tests.gateway.reader import READ_TOKEN, READER
from tests.scanner.images import Pushed, build_and_push
from tests.scanner.stage import SHIPLINE_YAML, Monorepo, scanner_runtime

SERVICE = "account-service"
# What Trivy finds in an image: an installed Python distribution and a Node package.
PACKAGES = {
    "site-packages/requests-2.31.0.dist-info/METADATA": (
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n"
    ),
    "node_modules/left-pad/package.json": json.dumps(
        {"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}
    ),
}


@pytest.fixture
def monorepo(tmp_path: Path) -> Monorepo:
    return Monorepo(tmp_path / "git")


def runtime_for(redis_url: str, workdir: Path, trivy_path: Path, monorepo: Monorepo) -> Runtime:
    repository = monorepo.repository()
    return scanner_runtime(redis_url, workdir, trivy_path, repository, api_tokens=[READ_TOKEN])


@pytest.fixture
def runtime(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, trivy_path: Path, monorepo: Monorepo
) -> Runtime:
    return runtime_for(redis_url, tmp_path / "workdir", trivy_path, monorepo)


@pytest.fixture(scope="module")
def image(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    return build_and_push(docker_client, registry, "sbom/account-service", base_image, PACKAGES)


def scan(runtime: Runtime, image: Pushed, commit: str) -> Envelope:
    [outcome] = make_handler(runtime)(image.event(service=SERVICE, commit=commit))
    return outcome


def sbom_of(runtime: Runtime, outcome: Envelope) -> SbomRecord:
    """What the scan kept of its SBOM: made after the decision, so not in its event."""
    assert isinstance(outcome, ScanPassed) and outcome.sbom is None
    record = SbomRecords(runtime.redis, keys=runtime.keyspace).get(outcome.run_id, SERVICE)
    assert record is not None
    return record


def from_registry(registry: Registry, name: str, reference: str, accept: str) -> httpx.Response:
    answer = httpx.get(
        f"{registry.url}/v2/{name}/{reference}", headers={"Accept": accept}, timeout=10
    )
    answer.raise_for_status()
    return answer


def test_a_scanned_image_s_sbom_is_found_again_in_the_registry_through_the_referrers_tag(
    runtime: Runtime, monorepo: Monorepo, registry: Registry, image: Pushed
) -> None:
    outcome = scan(runtime, image, monorepo.commit(SHIPLINE_YAML.format(account_scan="")))
    sbom_record = sbom_of(runtime, outcome)

    assert sbom_record.error == "" and sbom_record.listed_by == "referrers-tag"
    name = "sbom/account-service"
    tag = "sha256-" + image.digest.removeprefix("sha256:")
    assert sbom_record.tag == tag
    index = from_registry(registry, name, f"manifests/{tag}", OCI_INDEX).json()
    [entry] = [m for m in index["manifests"] if m.get("artifactType") == SBOM_MEDIA_TYPE]
    assert entry["digest"] == sbom_record.artifact
    manifest = from_registry(registry, name, f"manifests/{entry['digest']}", OCI_MANIFEST).json()
    assert manifest["subject"]["digest"] == image.digest
    assert manifest["subject"]["mediaType"] in (
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    [layer] = manifest["layers"]
    assert layer["digest"] == sbom_record.digest
    sbom = json.loads(from_registry(registry, name, f"blobs/{layer['digest']}", "*/*").content)
    assert (sbom["bomFormat"], sbom["metadata"]["component"]["name"]) == (
        "CycloneDX",
        image.by_digest,
    )
    found = {(c["name"], c["version"]) for c in sbom["components"] if "version" in c}
    assert {("requests", "2.31.0"), ("left-pad", "1.3.0")} <= found
    assert sbom_record.components == len(sbom["components"])


def test_the_api_serves_the_sbom_of_the_scan_and_links_it(
    runtime: Runtime, monorepo: Monorepo, image: Pushed
) -> None:
    runtime.runs.create("run-1", trigger="push")
    outcome = scan(runtime, image, monorepo.commit(SHIPLINE_YAML.format(account_scan="")))
    runtime.event_log.append(outcome)
    url = f"/api/v1/runs/run-1/services/{SERVICE}/scan"

    with TestClient(create_app(runtime.settings, runtime), headers=READER) as client:
        summary = client.get(url).json()
        served = client.get(url, params={"format": "cyclonedx"})
        refused = client.get(url, params={"format": "spdx"})

    assert summary["reports"]["cyclonedx"] == f"{url}?format=cyclonedx"
    assert summary["sbom"]["listed_by"] == "referrers-tag"
    assert served.status_code == 200
    assert served.headers["content-type"] == SBOM_MEDIA_TYPE
    assert "sha256:" + hashlib.sha256(served.content).hexdigest() == summary["sbom"]["digest"]
    assert {c["name"] for c in served.json()["components"]} >= {"requests", "left-pad"}
    assert refused.status_code == 422
    assert "cyclonedx" in refused.text


def test_a_scan_handled_twice_attaches_one_sbom(
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    trivy_path: Path,
    monorepo: Monorepo,
    registry: Registry,
    docker_client: docker.DockerClient,
    base_image: str,
) -> None:
    image = build_and_push(docker_client, registry, "sbom/twice", base_image, PACKAGES)
    commit = monorepo.commit(SHIPLINE_YAML.format(account_scan=""))

    one = runtime_for(redis_url, tmp_path / "one", trivy_path, monorepo)
    first = sbom_of(one, scan(one, image, commit))
    two = runtime_for(redis_url, tmp_path / "two", trivy_path, monorepo)
    again = sbom_of(two, scan(two, image, commit))

    assert first == again
    tag = "sha256-" + image.digest.removeprefix("sha256:")
    index = from_registry(registry, "sbom/twice", f"manifests/{tag}", OCI_INDEX).json()
    assert [m["digest"] for m in index["manifests"]] == [first.artifact]
    assert registry.tags("sbom/twice") == sorted([image.tag, tag])


class ReadOnlyRegistry(Registry):
    """docker-registry in maintenance read-only mode once `read_only` is set and restarted:
    Trivy still pulls the image, every push (the SBOM's) is refused with 405."""

    read_only = False

    def _write_config(self, port: int) -> Path:
        path = super()._write_config(port)
        if self.read_only:
            config = json.loads(path.read_text())
            config["storage"]["maintenance"] = {"readonly": {"enabled": True}}
            path.write_text(json.dumps(config))
        return path


@pytest.fixture
def read_only_registry(tmp_path: Path) -> Iterator[ReadOnlyRegistry]:
    registry = ReadOnlyRegistry(tmp_path / "read-only-registry").start()
    yield registry
    registry.stop()


def test_a_registry_refusing_the_sbom_never_blocks_the_scan_and_the_run_still_has_it(
    runtime: Runtime,
    monorepo: Monorepo,
    read_only_registry: ReadOnlyRegistry,
    docker_client: docker.DockerClient,
    base_image: str,
) -> None:
    image = build_and_push(docker_client, read_only_registry, "sbom/frozen", base_image, PACKAGES)
    read_only_registry.stop()
    read_only_registry.read_only = True
    read_only_registry.restart()

    outcome = scan(runtime, image, monorepo.commit(SHIPLINE_YAML.format(account_scan="")))
    sbom_record = sbom_of(runtime, outcome)

    assert sbom_record.error.startswith(
        f"not attached to the image: registry {read_only_registry.host} answered HTTP 405"
    )
    assert (sbom_record.artifact, sbom_record.listed_by) == ("", "")
    assert read_only_registry.tags("sbom/frozen") == [image.tag]
    kept = runtime.settings.workdir / "reports" / "run-1" / f"{SERVICE}.cdx.json"
    assert "sha256:" + hashlib.sha256(kept.read_bytes()).hexdigest() == sbom_record.digest
