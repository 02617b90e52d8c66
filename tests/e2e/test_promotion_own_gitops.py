"""Promotion through the running stack into a production kept in a gitops repository of its
own (a `gitops_repositories` entry): `shipline promote` writes production's repository
only, and the services API shows production as that repository has it."""

from __future__ import annotations

from typing import Any

import git
from click.testing import CliRunner

from services.cli import main
from services.demo.scenario import SampleMonorepo
from tests.committer.gitrepos import Repo
from tests.e2e.test_environments import commit_and_push, overlay, split_by_environment
from tests.stack import API_TOKEN, Stack, sample_stack

PRODUCTION_GITOPS = "acme/prod-gitops"
ENVIRONMENTS = f"""\
environments:
  - name: staging
  - name: production
    from: staging
    gitops: {{repository: {PRODUCTION_GITOPS}, branch: main}}
"""


def with_production_gitops(sample: SampleMonorepo) -> dict[str, Any]:
    """Production's repository beside the sample's, the sample's manifests in it as
    production's overlays."""
    prod = Repo(sample.remote.parent, PRODUCTION_GITOPS)
    files = {
        overlay("production", name): sample.remote_file(f"k8s/manifests/{name}/deployment.yaml")
        for name in sample.services
    }
    prod.commit(files, "production's manifests")
    return {"gitops_repositories": [{"name": PRODUCTION_GITOPS, "url": prod.url}]}


own_gitops_stack = sample_stack("own-gitops", with_production_gitops)


def production_head(sample: SampleMonorepo) -> git.Commit:
    with git.Repo(sample.remote.parent / f"{PRODUCTION_GITOPS.replace('/', '-')}.git") as prod:
        return prod.commit("main")


def test_shipline_promote_writes_production_in_its_own_gitops_repository_only(
    own_gitops_stack: Stack,
) -> None:
    stack, sample = own_gitops_stack, own_gitops_stack.sample
    files = split_by_environment(sample, ENVIRONMENTS, copied_to=("staging",))
    staged = stack.deploy(commit_and_push(stack, files, "chore: staging here, production apart"))
    image = staged["services"]["user-service"]["image"]
    sample_head = sample.remote_head().hexsha
    env = {"SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}

    result = CliRunner().invoke(
        main, ["promote", "user-service", "--to", "production", "--wait", "180"], env=env
    )

    assert result.exit_code == 0, result.output
    assert f"user-service: succeeded {image}" in result.output
    head = production_head(sample)
    text = (head.tree / overlay("production", "user-service")).data_stream.read().decode()
    assert f"image: {image}" in text
    assert str(head.message).startswith("promote(production): user-service from staging")
    trailer = f"Shipline-Deployed: user-service {sample.name}@{staged['commit']} in production"
    assert trailer in str(head.message)
    assert sample.remote_head().hexsha == sample_head  # staging's branch untouched
    listed = stack.get("/api/v1/services", timeout=30).json()
    [service] = [s for s in listed["services"] if s["service"] == "user-service"]
    production = {e["name"]: e for e in service["environments"]}["production"]
    assert (production["image"], production["source_commit"]) == (image, staged["commit"])
