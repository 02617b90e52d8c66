"""A manifest's format read from the file when shipline.yaml does not name it: a deploy
through the committer on real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.formats import manifest_format
from services.common.errors import PermanentError
from services.common.project import ServiceSpec
from tests.committer.gitrepos import REGISTRY, Repo, shipline_yaml
from tests.committer.test_formats import DEPLOYMENT, VALUES, deploy

KUSTOMIZATION = f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]
images:
  - name: {REGISTRY}/svc-b
    newTag: initial
"""


def test_a_kustomization_without_format_deploys_through_its_images_entry(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    repo = Repo(tmp_path, "acme/detected")
    services = {"svc-b": {"path": "svc-b/", "manifest": "k8s/svc-b/kustomization.yaml"}}
    repo.commit(
        {"shipline.yaml": shipline_yaml(services), "k8s/svc-b/kustomization.yaml": KUSTOMIZATION},
        "initial",
    )

    committed = deploy(repo, tmp_path, redis_client, "svc-b")

    tag = committed.new_image.rsplit(":", 1)[1]
    assert committed.old_image == f"{REGISTRY}/svc-b:initial"
    assert repo.read("k8s/svc-b/kustomization.yaml") == KUSTOMIZATION.replace(
        "newTag: initial", f"newTag: {tag}"
    )


def test_helm_values_without_format_are_not_guessed_and_the_error_says_so(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    repo = Repo(tmp_path, "acme/values")
    services = {"web": {"path": "web/", "manifest": "values.yaml"}}
    repo.commit({"shipline.yaml": shipline_yaml(services), "values.yaml": VALUES}, "initial")

    with pytest.raises(PermanentError, match="no workload with containers|no container named"):
        deploy(repo, tmp_path, redis_client, "web")
    assert len(repo.log()) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: Kustomization\nimages: []\n", "kustomize"),
        ("apiVersion: kustomize.config.k8s.io/v1beta1\nimages: []\n", "kustomize"),
        ('kind: "Kustomization"  # overlay\r\n', "kustomize"),
        (DEPLOYMENT, "kubernetes"),
        ("spec:\n  kind: Kustomization\n", "kubernetes"),
        (VALUES, "kubernetes"),
    ],
)
def test_the_format_is_read_from_the_top_level_kind(text: str, expected: str) -> None:
    assert manifest_format(text, ServiceSpec(path="a")) == expected


def test_a_format_in_shipline_yaml_wins_over_the_file() -> None:
    spec = ServiceSpec(path="a", format="kubernetes")

    assert manifest_format("kind: Kustomization\n", spec) == "kubernetes"
