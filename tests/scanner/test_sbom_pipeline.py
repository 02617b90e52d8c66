"""A git push through a real `shipline up`: the deployed image's SBOM is served with the run
and attached to the image in the registry, where the referrers tag finds it."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx

from services.scanner.sbom import OCI_INDEX, OCI_MANIFEST, SBOM_MEDIA_TYPE
from tests.stack import Stack, stack

__all__ = ["stack"]


def scan_with_sbom(stack: Stack, url: str, timeout: float = 30) -> dict[str, Any]:
    """The scan's summary once its SBOM is recorded: the scanner makes it after publishing
    its decision, so it may come a moment after the run is done."""
    deadline = time.monotonic() + timeout
    while (summary := stack.get(url, timeout=10).json()).get("sbom") is None:
        assert time.monotonic() < deadline, f"no SBOM recorded: {summary}"
        time.sleep(0.2)
    return summary


def test_a_pushed_service_s_sbom_is_served_with_its_run_and_attached_to_its_image(
    stack: Stack,
) -> None:
    push = stack.sample.append("user_service/app.txt", "SBOM please.", "feat(user): sbom")

    run = stack.deploy(push)

    assert run["status"] == "succeeded", run
    digest = run["services"]["user-service"]["digest"]
    summary = scan_with_sbom(stack, f"/api/v1/runs/{run['run_id']}/services/user-service/scan")
    assert summary["sbom"]["error"] == "" and summary["sbom"]["listed_by"] == "referrers-tag"
    served = stack.get(summary["reports"]["cyclonedx"], timeout=10)
    assert served.status_code == 200
    assert served.headers["content-type"] == SBOM_MEDIA_TYPE
    assert served.json()["metadata"]["component"]["name"].endswith(f"@{digest}")
    assert "sha256:" + hashlib.sha256(served.content).hexdigest() == summary["sbom"]["digest"]

    registry = stack.registry.url
    name = "microbank/user-service"
    tag = "sha256-" + digest.removeprefix("sha256:")
    index = httpx.get(
        f"{registry}/v2/{name}/manifests/{tag}", headers={"Accept": OCI_INDEX}, timeout=10
    ).json()
    [entry] = [m for m in index["manifests"] if m["digest"] == summary["sbom"]["artifact"]]
    assert entry["artifactType"] == SBOM_MEDIA_TYPE
    manifest = httpx.get(
        f"{registry}/v2/{name}/manifests/{entry['digest']}",
        headers={"Accept": OCI_MANIFEST},
        timeout=10,
    ).json()
    assert manifest["subject"]["digest"] == digest
    assert manifest["layers"][0]["digest"] == summary["sbom"]["digest"]
