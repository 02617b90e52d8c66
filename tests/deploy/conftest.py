"""Rendering deploy/kubernetes the way a cluster receives it: `kustomize build`, or
`kubectl kustomize` where only kubectl is installed.

A missing renderer fails the test (never skips): install one with
`bash deploy/dev/bootstrap.sh` (Debian package kubernetes-client).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.slow_worker import StartWorker, worker_starter
from tests.worker_lock import one_worker_at_a_time

REPO = Path(__file__).resolve().parents[2]


def _kustomize(path: Path) -> list[dict[str, Any]]:
    if shutil.which("kustomize"):
        argv = ["kustomize", "build", str(path)]
    elif shutil.which("kubectl"):
        argv = ["kubectl", "kustomize", str(path)]
    else:
        pytest.fail(
            "neither kustomize nor kubectl is on PATH: the deploy tests render "
            "deploy/kubernetes with it. Install it with `bash deploy/dev/bootstrap.sh` "
            "(or `apt-get install kubernetes-client`).",
            pytrace=False,
        )
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )
    if completed.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {completed.returncode}:\n{completed.stderr}")
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]


@pytest.fixture(scope="session")
def kustomize() -> Callable[[Path], list[dict[str, Any]]]:
    """Render a kustomization directory into its objects; any failure fails the test."""
    return _kustomize


# Both overlays as a cluster receives them (tests/deploy/manifests.py reads them).
OVERLAYS = REPO / "deploy" / "kubernetes" / "overlays"


@pytest.fixture(scope="module", params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def rendered(kustomize: Callable[[Path], list[dict[str, Any]]], overlay: str) -> list[Any]:
    return kustomize(OVERLAYS / overlay)


@pytest.fixture
def objects(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The overlay's objects, a copy each test may change."""
    return copy.deepcopy(rendered)


@pytest.fixture(scope="module")
def prod(kustomize: Callable[[Path], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return kustomize(OVERLAYS / "prod")


@pytest.fixture(scope="session")
def debian_base(docker_client: Any, devenv_state_dir: Path) -> str:
    """The local Debian bookworm + Python 3.11 base deploy/Dockerfile builds on here."""
    from services.devenv.debian_base import ensure_debian_base

    with one_worker_at_a_time(devenv_state_dir, "debian-base"):
        return ensure_debian_base(docker_client, devenv_state_dir)


@pytest.fixture(scope="session")
def compose_images(
    docker_host: str,
    debian_base: str,
    tmp_path_factory: pytest.TempPathFactory,
    devenv_state_dir: Path,
) -> dict[str, str]:
    """The gateway, worker and scanner images, built by docker-compose (by compose service)."""
    from tests.deploy.compose_images import build_images

    with one_worker_at_a_time(devenv_state_dir, "compose-images"):  # one build, then cached
        images, _ = build_images(docker_host, debian_base, tmp_path_factory.mktemp("build"))
    return images


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start real slow workers (tests/deploy/slow_worker.py); killed at the test's end."""
    yield from worker_starter(tmp_path)
