"""The monorepos the pipeline benchmarks push to: the microbank sample, and a fleet of
services whose builds are dominated by `RUN sleep 2` (the fan-out benchmark)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import git

from services.demo.scenario import DEVELOPER, Push, SampleMonorepo

SLEEP_SECONDS = 2
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {service}
spec:
  selector:
    matchLabels: {{app: {service}}}
  template:
    metadata:
      labels: {{app: {service}}}
    spec:
      containers:
        - name: {service}
          image: {image}
"""


@dataclass(frozen=True)
class ServiceSpec:
    """What the by-hand script needs to know of one service: `name=context=manifest`."""

    name: str
    context: str
    manifest: str

    @property
    def argument(self) -> str:
        return f"{self.name}={self.context}={self.manifest}"


def microbank_spec(service: str = "user-service") -> ServiceSpec:
    context = service.replace("-", "_")
    return ServiceSpec(service, context, f"k8s/manifests/{service}/deployment.yaml")


class Fleet(SampleMonorepo):
    """`size` services `svc-<n>`, each a directory holding a Dockerfile that sleeps 2 s."""

    def __init__(self, root: Path, size: int, name: str = "bench/fleet") -> None:
        super().__init__(root, name)
        self.remote = root / "remotes" / "fleet.git"
        self.clone = root / "fleet"
        self.services = [f"svc-{index}" for index in range(size)]
        self.base_image = ""

    def spec(self, service: str) -> ServiceSpec:
        return ServiceSpec(service, service, f"k8s/manifests/{service}/deployment.yaml")

    def create(self, registry: str, base_image: str) -> Push:
        self.base_image = base_image
        git.Repo.init(self.remote, bare=True, initial_branch="main").close()
        with git.Repo.init(self.clone, initial_branch="main") as repo:
            repo.create_remote("origin", self.url)
        lines = [f"registry: {registry}", "services:"]
        for service in self.services:
            lines += [f"  {service}:", f"    path: {service}/"]
            manifest = self.clone / self.spec(service).manifest
            manifest.parent.mkdir(parents=True, exist_ok=True)
            manifest.write_text(MANIFEST.format(service=service, image=f"{registry}/{service}:0"))
            self._write_dockerfile(service)
        (self.clone / "shipline.yaml").write_text("\n".join(lines) + "\n")
        return self._commit_and_push(["."], "fleet")

    def change_services(self, services: list[str]) -> Push:
        """One commit that changes the Dockerfile of each of `services` (no layer cache hit)."""
        self.pull()
        for service in services:
            self._write_dockerfile(service)
        return self._commit_and_push(services, f"change {len(services)} services")

    def _write_dockerfile(self, service: str) -> None:
        directory = self.clone / service
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "Dockerfile").write_text(
            f"FROM {self.base_image}\nRUN echo {uuid.uuid4().hex} && sleep {SLEEP_SECONDS}\n"
        )


def clone_remote(remote: Path, bare: Path, work: Path) -> None:
    """A bare copy of `remote` and a working clone of it that commits as the developer."""
    git.Repo.clone_from(f"file://{remote}", bare, bare=True).close()
    with git.Repo.clone_from(f"file://{bare}", work) as repo, repo.config_writer() as config:
        config.set_value("user", "name", DEVELOPER.name)
        config.set_value("user", "email", DEVELOPER.email)
