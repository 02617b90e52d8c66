"""Every manifest format through the writer, on a real repository: one line changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.writeback import GitopsWriter
from services.common.events import ManifestCommitted
from tests.committer.gitrepos import (
    DIGEST,
    REGISTRY,
    Repo,
    scan_passed,
    settings_for,
    shipline_yaml,
)

KUSTOMIZATION = f"""\
# overlay: prod
resources: [../../base]
images:
  - name: api          # the name the base manifests use
    newName: {REGISTRY}/api
    newTag: "initial"
"""

VALUES = f"""\
replicaCount: 3
image:
  repository: {REGISTRY}/web  # pinned below by Shipline
  tag: initial
  pullPolicy: IfNotPresent
"""

DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: worker}}
spec:
  template:
    spec:
      containers:
        - name: worker
          image: {REGISTRY}/worker:initial
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path, "acme/formats")
    services = {
        "api": {
            "path": "api/",
            "manifest": "deploy/overlays/prod/kustomization.yaml",
            "format": "kustomize",
            "image_name": "api",
            "pin_digest": True,
        },
        "web": {"path": "web/", "manifest": "charts/web/values.yaml", "format": "helm"},
        "worker": {"path": "worker/", "manifest": "k8s/worker.yaml", "pin_digest": True},
    }
    repo.commit(
        {
            "shipline.yaml": shipline_yaml(services),
            "deploy/overlays/prod/kustomization.yaml": KUSTOMIZATION,
            "charts/web/values.yaml": VALUES,
            "k8s/worker.yaml": DEPLOYMENT,
        },
        "initial",
    )
    return repo


def deploy(repo: Repo, tmp_path: Path, client: redis.Redis, service: str) -> ManifestCommitted:
    writer = GitopsWriter.connect(settings_for(tmp_path / "committer", repo), client)
    outcome = writer.deploy(scan_passed(repo, service, repo.log()[0].hexsha, f"run-{service}"))
    assert isinstance(outcome, ManifestCommitted)
    return outcome


def test_kustomize_entry_gets_the_tag_and_a_pinned_digest(
    repo: Repo, tmp_path: Path, redis_client: redis.Redis
) -> None:
    committed = deploy(repo, tmp_path, redis_client, "api")

    tag = committed.new_image.split(":")[-2].split("@")[0]
    assert repo.read("deploy/overlays/prod/kustomization.yaml") == KUSTOMIZATION.replace(
        '"initial"', f'"{tag}"\n    digest: {DIGEST}'
    )
    assert committed.new_image == f"{REGISTRY}/api:{tag}@{DIGEST}"
    assert committed.old_image == f"{REGISTRY}/api:initial"


def test_helm_values_get_the_tag(repo: Repo, tmp_path: Path, redis_client: redis.Redis) -> None:
    committed = deploy(repo, tmp_path, redis_client, "web")

    tag = committed.new_image.rsplit(":", 1)[1]
    assert repo.read("charts/web/values.yaml") == VALUES.replace("tag: initial", f"tag: {tag}")


def test_plain_manifest_is_pinned_by_digest(
    repo: Repo, tmp_path: Path, redis_client: redis.Redis
) -> None:
    committed = deploy(repo, tmp_path, redis_client, "worker")

    assert committed.new_image.endswith(f"@{DIGEST}")
    assert repo.read("k8s/worker.yaml") == DEPLOYMENT.replace(
        f"{REGISTRY}/worker:initial", committed.new_image
    )


def test_a_format_the_file_does_not_match_fails_permanently_naming_the_file(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    from services.common.errors import PermanentError

    repo = Repo(tmp_path, "acme/wrong")
    services = {"api": {"path": "api/", "manifest": "values.yaml", "format": "kustomize"}}
    repo.commit({"shipline.yaml": shipline_yaml(services), "values.yaml": VALUES}, "initial")

    with pytest.raises(PermanentError, match=r"values.yaml: kustomization has no images"):
        deploy(repo, tmp_path, redis_client, "api")
    assert len(repo.log()) == 1
