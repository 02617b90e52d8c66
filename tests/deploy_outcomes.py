"""What the pipeline left behind, read back from the real registry and gitops remote by the
end-to-end tests: the manifest a service runs, the image a commit builds, how often a tag
was pushed, how many commits deployed an image."""

from __future__ import annotations

import git

from services.common.run_models import Run
from services.common.runtime import Runtime
from services.demo.scenario import SampleMonorepo
from services.devenv.registry import Registry

REGISTRY_NAMESPACE = "microbank"  # where the sample monorepo's images go


def manifest_of(sample: SampleMonorepo, service: str) -> str:
    """`service`'s gitops manifest on the remote's main."""
    return sample.remote_file(f"k8s/manifests/{service}/deployment.yaml")


def image_of(registry: Registry, service: str, commit: str) -> str:
    """The image the pipeline builds of `service` at `commit`."""
    return f"{registry.host}/{REGISTRY_NAMESPACE}/{service}:sha-{commit[:7]}"


def pushes_of(registry: Registry, service: str, tag: str) -> int:
    """How many manifests the registry's tag ever pointed at (0: never pushed)."""
    repositories = registry.workdir / "data/docker/registry/v2/repositories"
    index = repositories / REGISTRY_NAMESPACE / service / "_manifests/tags" / tag / "index/sha256"
    return len(list(index.iterdir())) if index.exists() else 0


def deploy_commits(sample: SampleMonorepo, image: str) -> int:
    """How many gitops commits deployed `image` on the remote's main."""
    with git.Repo(sample.remote) as repo:
        subjects = (str(c.summary) for c in repo.iter_commits("main"))
        return sum(1 for subject in subjects if subject.endswith(f"{image} [skip ci]"))


def runs_of_trigger(runtime: Runtime, trigger: str) -> list[Run]:
    """The runs in the run store's index that `trigger` started (e.g. the reconciler's)."""
    found = []
    for run_id in runtime.redis.zrange(runtime.keyspace.runs_index, 0, -1):
        run = runtime.runs.get(run_id.decode())
        if run is not None and run.trigger == trigger:
            found.append(run)
    return found
