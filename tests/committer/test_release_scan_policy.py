"""A release tag into the `releases: true` environment under that environment's own scan
policy (shipline.yaml `environments[].scan`): each image is judged again before the release
commit, as a promotion's is, through the committer stage's handler, on real Trivy, a real
image holding a private key and a clean one in a real registry, real git repositories and
Redis. cart allows secrets by its own policy; production does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
import redis
import yaml

from services.committer.task import make_handler as committer_handler
from services.common.environment_scan_verdicts import EnvironmentVerdicts
from services.common.events import (
    ManifestCommitted,
    ReleaseImage,
    ReleaseReady,
    ScanFailed,
    ScanPassed,
    Source,
    StageFailed,
)
from services.common.runs import RunStore
from services.common.runtime import Runtime
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import Settings
from services.devenv.registry import Registry
from services.scanner.task import make_handler as scanner_handler
from tests.committer.gitrepos import Repo, deployment
from tests.committer.test_promote_scan_policy import (  # noqa: F401 (keyed_cart: a fixture)
    keyed_cart,
    scanning_settings,
)
from tests.scanner.images import Pushed, build_and_push

SERVICES = ("cart", "search")


def overlay(environment: str, service: str) -> str:
    return f"k8s/{environment}/{service}.yaml"


def shop(root: Path, registry: Registry, production_scan: dict[str, Any]) -> tuple[Repo, str]:
    """cart (its own `scan:` allows secrets) and search; production takes release tags with
    `production_scan` on top of each service's policy. Returns the repository and the
    tagged commit."""
    config = {
        "registry": f"{registry.host}/shop",
        "environments": [
            {"name": "staging"},
            {"name": "production", "from": "staging", "releases": True, "scan": production_scan},
        ],
        "services": {
            "cart": {
                "path": "cart/",
                "manifest": "k8s/{environment}/cart.yaml",
                "scan": {"allow_secrets": True},
            },
            "search": {"path": "search/", "manifest": "k8s/{environment}/search.yaml"},
        },
    }
    files = {"shipline.yaml": yaml.safe_dump(config, sort_keys=False)}
    for service in SERVICES:
        files[f"{service}/app.txt"] = f"{service}\n"
        for environment in ("staging", "production"):
            initial = f"{registry.host}/shop/{service}:initial"
            files[overlay(environment, service)] = deployment(service, initial)
    repo = Repo(root, "acme/shop")
    commit = repo.commit(files, "initial")
    repo.tag("v1.0.0", commit)
    return repo, commit


@pytest.fixture(scope="module")
def clean_search(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    return build_and_push(docker_client, registry, "shop/search", base_image, {"app.txt": "hi\n"})


def scanned(images: dict[str, Pushed], repo: Repo, commit: str, scanning: Settings) -> None:
    """Each image scanned by the scanner stage (real Trivy, its report kept in the
    scanner's workdir): each passes under its service's own policy."""
    scan = scanner_handler(Runtime(scanning))
    for service, image in images.items():
        pushed = image.event(service=service, run_id="run-rel", commit=commit, repository=repo.name)
        [outcome] = scan(pushed)
        assert isinstance(outcome, ScanPassed), outcome


def release_ready(images: dict[str, Pushed], repo: Repo, commit: str) -> ReleaseReady:
    return ReleaseReady(
        run_id="run-rel",
        source=Source(repository=repo.name, commit=commit, ref="refs/tags/v1.0.0"),
        version="v1.0.0",
        images={
            service: ReleaseImage(
                image_repository=image.repository, tag=image.tag, digest=image.digest
            )
            for service, image in images.items()
        },
    )


def released(committing: Settings, ready: ReleaseReady, runs: RunStore) -> list[Any]:
    """The committer stage's answer to the release, applied to its run as the bus would."""
    runs.create("run-rel", trigger="push", repository="acme/shop")
    runs.plan("run-rel", list(ready.images))
    events = list(committer_handler(Runtime(committing))(ready))
    for event in events:
        runs.apply(event)
    return events


def manifests(repo: Repo) -> dict[str, str]:
    return {path: repo.read(path) for path in map(overlay, ["production"] * 2, SERVICES)}


Scanning = Callable[..., tuple[Repo, ReleaseReady, Settings]]


@pytest.fixture
def scanned_release(
    tmp_path: Path,
    registry: Registry,
    keyed_cart: Pushed,  # noqa: F811 (the fixture)
    clean_search: Pushed,
    trivy_path: Path,
    redis_url: str,
) -> Scanning:
    """The shop tagged under production's `production_scan`, the keyed cart and the clean
    search scanned by the scanner stage: the repository, the release, and the committer's
    settings: the scanner's (its reports at hand) or, `report_at_hand` False, another disk's."""

    def scan(
        production_scan: dict[str, Any], report_at_hand: bool = True
    ) -> tuple[Repo, ReleaseReady, Settings]:
        repo, commit = shop(tmp_path / "remotes", registry, production_scan)
        images = {"cart": keyed_cart, "search": clean_search}
        scanning = scanning_settings(tmp_path / "scanner", repo, redis_url, trivy_path)
        scanned(images, repo, commit, scanning)
        ready = release_ready(images, repo, commit)
        if report_at_hand:
            return repo, ready, scanning
        return repo, ready, scanning_settings(tmp_path / "committer", repo, redis_url, trivy_path)

    return scan


BLOCKS_SECRETS = {"allow_secrets": False}


def test_production_s_policy_blocks_the_release_on_the_key_cart_s_own_policy_allowed(
    scanned_release: Scanning,
    keyed_cart: Pushed,  # noqa: F811 (the fixture)
    redis_client: redis.Redis,
) -> None:
    repo, ready, shared = scanned_release(BLOCKS_SECRETS)  # scanner and committer on one disk
    commits, before = len(repo.log()), manifests(repo)
    runs = RunStore(redis_client)

    events = released(shared, ready, runs)

    blocked, refused = events
    assert isinstance(blocked, ScanFailed) and blocked.service == "cart"
    assert [f.id for f in blocked.findings] == ["private-key"]
    assert blocked.policy.startswith("environment production: any secret blocks")
    assert blocked.run_id == "run-rel"
    assert isinstance(refused, StageFailed) and refused.service == "search"
    assert refused.message == (
        "release v1.0.0 not deployed: cart is blocked by production's scan policy"
    )
    assert len(repo.log()) == commits and manifests(repo) == before  # nothing written
    run = runs.get("run-rel")
    assert run is not None
    cart, search = run.services["cart"], run.services["search"]
    assert cart.status == "blocked" and "private-key" in (cart.reason or "")
    assert search.status == "failed" and "cart is blocked" in (search.reason or "")
    judged = EnvironmentVerdicts(redis_client).get(
        "production", keyed_cart.repository, keyed_cart.digest
    )
    assert judged is not None and judged.verdict.outcome == "failed"
    scanner = ScanVerdicts(redis_client).get(keyed_cart.repository, keyed_cart.digest)
    assert scanner is not None and scanner.outcome == "passed"  # staging's verdict stands
    kept = shared.workdir / "reports" / "run-rel" / "cart.trivy.json"
    assert blocked.report_location == str(kept)  # decided on the report the scanner kept


def test_without_the_scanner_s_report_the_committer_runs_trivy_and_blocks_the_release(
    scanned_release: Scanning, redis_client: redis.Redis
) -> None:
    repo, ready, committing = scanned_release(BLOCKS_SECRETS, report_at_hand=False)
    before = manifests(repo)

    events = released(committing, ready, RunStore(redis_client))

    assert [(e.type, e.service) for e in events] == [
        ("ScanFailed", "cart"),
        ("StageFailed", "search"),
    ]
    assert [f.id for f in events[0].findings] == ["private-key"]
    kept = committing.workdir / "reports" / "run-rel" / "cart.trivy.json"
    assert kept.is_file() and events[0].report_location == str(kept)
    assert manifests(repo) == before


def test_a_production_policy_no_stricter_than_the_services_releases_as_before(
    scanned_release: Scanning,
    keyed_cart: Pushed,  # noqa: F811 (the fixture)
    redis_client: redis.Redis,
) -> None:
    repo, ready, shared = scanned_release({"allow_secrets": True})

    events = released(shared, ready, RunStore(redis_client))

    assert [(e.type, e.service) for e in events] == [
        ("ManifestCommitted", "cart"),
        ("ManifestCommitted", "search"),
    ]
    assert all(isinstance(e, ManifestCommitted) and e.kind == "release" for e in events)
    assert repo.log()[0].message.startswith("release v1.0.0 [skip ci]")
    for service, image in ready.images.items():
        assert f"{service}:{image.tag}" in repo.read(overlay("production", service))
    judged = EnvironmentVerdicts(redis_client)
    assert judged.get("production", keyed_cart.repository, keyed_cart.digest) is None
