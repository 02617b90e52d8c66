"""The baseline of the pipeline benchmarks: bench/baseline_pipeline.sh, timed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import git

from bench.docker_cli import buildkit_cli
from bench.repos import ServiceSpec, clone_remote
from bench.stack import Components
from services.demo.scenario import SampleMonorepo

SCRIPT = Path(__file__).resolve().parent / "baseline_pipeline.sh"


class ByHand:
    """The script's own checkout, gitops clone (of a copy of the remote) and image path."""

    def __init__(self, workdir: Path, components: Components, source: SampleMonorepo) -> None:
        self.source = source
        self.checkout = workdir / "checkout"
        git.Repo.init(self.checkout, initial_branch="main").close()
        self.gitops = workdir / "gitops"
        clone_remote(source.remote, workdir / "gitops.git", self.gitops)
        self.registry = f"{components.registry.host}/by-hand"
        self.trivy = str(components.trivy)
        self.trivy_cache = workdir / "trivy-cache"
        self.env = {**os.environ, "DOCKER_HOST": components.docker_host, "DOCKER": buildkit_cli()}

    def run(self, commit: str, services: list[ServiceSpec]) -> float:
        """Seconds the script takes for `services` at `commit`, one after another."""
        argv = [
            "bash",
            str(SCRIPT),
            self.source.url,
            commit,
            str(self.checkout),
            str(self.gitops),
            self.registry,
            self.trivy,
            str(self.trivy_cache),
            *(spec.argument for spec in services),
        ]
        started = time.time()
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)
        took = time.time() - started
        if result.returncode != 0:
            raise RuntimeError(f"{SCRIPT.name} failed: {result.stderr.strip()[-800:]}")
        return took
