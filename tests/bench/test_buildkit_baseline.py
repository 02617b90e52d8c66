"""The by-hand baselines build with BuildKit, like Shipline's builder: the CLI they run is
one that has it (the docker CLI first on PATH may refuse `DOCKER_BUILDKIT=1`)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from bench.docker_cli import NoBuildKitCli, buildkit_cli
from services.devenv.registry import Registry

pytestmark = pytest.mark.integration  # runs docker CLIs


def test_the_cli_the_baseline_runs_builds_a_buildkit_only_dockerfile(
    tmp_path: Path, docker_host: str, base_image: str, registry: Registry
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\nRUN --mount=type=cache,target=/cache echo {uuid.uuid4().hex}\n"
    )  # `RUN --mount` is BuildKit's: the classic builder refuses it
    env = {**os.environ, "DOCKER_HOST": docker_host, "DOCKER_BUILDKIT": "1"}
    image = f"{registry.host}/baseline/buildkit:probe"

    result = subprocess.run(
        [buildkit_cli(), "build", "--quiet", "--network=none", "--tag", image, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("sha256:")


def test_no_cli_with_buildkit_is_a_clear_error(tmp_path: Path) -> None:
    newer = tmp_path / "docker"
    newer.write_text('#!/bin/sh\n[ "$1" = version ] && echo 28.2.2 && exit 0\nexit 1\n')
    newer.chmod(0o755)

    with pytest.raises(NoBuildKitCli, match="apt-get install docker.io"):
        buildkit_cli([str(newer)])
