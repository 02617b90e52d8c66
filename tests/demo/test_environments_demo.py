"""`shipline demo --environments` as a user runs it: the installed command on the session's
Docker engine, its own registry, Redis and `shipline up`; a push lands in staging and
production takes the same image by itself."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.demo.microbank import manifest_path
from services.demo.scenario import SampleMonorepo

pytestmark = pytest.mark.integration  # the demo starts a registry, Redis and `shipline up`


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, docker_host: str) -> tuple[Path, str]:
    """The demo's working directory and what it printed, once it exited 0."""
    workdir = tmp_path_factory.mktemp("demo-environments")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPLINE_")}
    env |= {"DOCKER_HOST": docker_host, "COLUMNS": "200"}
    command = [sys.executable, "-m", "services.cli", "demo", "--environments"]
    command += ["--workdir", str(workdir), "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return workdir, done.stdout


def image_in(manifest: str) -> str:
    [image] = re.findall(r"^\s+image: (\S+)", manifest, re.MULTILINE)
    return image


def test_production_runs_the_image_the_push_landed_in_staging_and_nothing_else_moved(
    demo: tuple[Path, str],
) -> None:
    workdir, _ = demo
    [run_root] = workdir.glob("run-*")
    sample = SampleMonorepo(run_root)
    staging = image_in(sample.remote_file(manifest_path("user-service", "staging")))
    production = image_in(sample.remote_file(manifest_path("user-service", "production")))

    assert re.search(r"/user-service:sha-[0-9a-f]{7}$", staging), staging
    assert production == staging
    for other in ("account-service", "frontend"):
        for environment in ("staging", "production"):
            manifest = sample.remote_file(manifest_path(other, environment))
            assert image_in(manifest).endswith(f"/{other}:initial")


def test_the_demo_ends_with_what_runs_where_and_both_gitops_commits_with_their_trailers(
    demo: tuple[Path, str],
) -> None:
    _, printed = demo
    lines = printed.splitlines()
    tag = re.search(r"user-service:(sha-[0-9a-f]{7})", printed)
    assert tag, printed
    sha = tag.group(1)

    assert "What runs where (GET /api/v1/services, as `shipline status`):" in lines
    header = next(line for line in lines if line.startswith("SERVICE "))
    assert header.split() == ["SERVICE", "STAGING", "PRODUCTION"]
    [row] = [line for line in lines if line.startswith("user-service ")]
    assert row.split()[:2] == ["user-service", sha] and row.split()[3] == sha
    [other] = [line for line in lines if line.startswith("frontend ")]
    assert other.split()[1] == other.split()[3] == "initial"
    assert "Gitops commits (what was written where, and why):" in lines
    staged = next(i for i, line in enumerate(lines) if line.startswith("  staging "))
    promoted = next(i for i, line in enumerate(lines) if line.startswith("  production "))
    assert staged < promoted
    assert "promote(production): user-service from staging [skip ci]" in lines[promoted]
    staging_trailers = lines[staged + 1 : promoted]
    assert any(
        re.fullmatch(r"    Shipline-Deployed: user-service demo/microbank@[0-9a-f]{40}", line)
        for line in staging_trailers
    ), staging_trailers
    assert any(
        re.fullmatch(
            r"    Shipline-Deployed: user-service demo/microbank@[0-9a-f]{40} in production", line
        )
        for line in lines[promoted + 1 :]
    ), lines[promoted:]
