"""Every environment's manifest checked against the tree, as the first one always was: on
disk and at a commit of a real mirror (`shipline validate`, the detector, `shipline doctor`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.git import Mirror
from services.common.project_checks import problems_at_commit, problems_in_text
from services.common.project_trees import WorkingTree
from tests.common.test_project_checks import DEPLOYMENT, LAYOUT, make_repo

pytestmark = pytest.mark.integration  # git repositories built with the git binary

ENVIRONMENTS = """\
registry: registry.example.com/acme
environments:
  - name: staging
  - {name: production, from: staging}
services:
  user:
    path: src/user
    manifest: k8s/{environment}/user.yaml
    container: app
  web:
    path: src/web/
    manifest: k8s/web/kustomization.yaml
    environments:
      production: {manifest: deploy/web/kustomization.yaml}
"""
OVERLAYS = {
    "k8s/staging/user.yaml": DEPLOYMENT,
    "k8s/production/user.yaml": DEPLOYMENT,
    "deploy/web/kustomization.yaml": LAYOUT["k8s/web/kustomization.yaml"],
}


def lines_on_disk_and_in_git(
    tmp_path: Path,
    overlays: dict[str, str],
    links: dict[str, str] | None = None,
    config: str = ENVIRONMENTS,
) -> list[str]:
    """The problem lines of `config` in LAYOUT plus `overlays`, on disk and in git (which
    must agree)."""
    files = {**LAYOUT, **overlays, "shipline.yaml": config}
    repo = make_repo(tmp_path / "repo", files, links)
    on_disk = [p.line() for p in problems_in_text(config, WorkingTree(repo))]
    mirror = Mirror(f"file://{repo}", tmp_path / "mirrors")
    mirror.fetch()
    in_git = [p.line() for p in problems_at_commit(mirror, mirror.resolve("main") or "")]
    assert on_disk == in_git
    return in_git


def lines(
    tmp_path: Path,
    without: str = "",
    links: dict[str, str] | None = None,
    config: str = ENVIRONMENTS,
) -> list[str]:
    """The problem lines with every overlay but `without`."""
    overlays = {path: text for path, text in OVERLAYS.items() if path != without}
    return lines_on_disk_and_in_git(tmp_path, overlays, links, config)


def test_a_tree_with_every_environments_manifest_fits(tmp_path: Path) -> None:
    assert lines(tmp_path) == []


def test_a_later_environments_missing_manifest_is_reported_with_its_resolved_path(
    tmp_path: Path,
) -> None:
    assert lines(tmp_path, without="k8s/production/user.yaml") == [
        "shipline.yaml: services.user.manifest: 'k8s/production/user.yaml' does not exist; "
        "create it, or set manifest: to the file the service's image is written in"
    ]


def test_a_missing_override_is_reported_at_the_overrides_key(tmp_path: Path) -> None:
    assert lines(tmp_path, without="deploy/web/kustomization.yaml") == [
        "shipline.yaml: services.web.environments.production.manifest: "
        "'deploy/web/kustomization.yaml' does not exist; correct it to the file the service's "
        "image is written in"
    ]


def test_an_environments_manifest_that_is_a_symbolic_link_is_refused_not_followed(
    tmp_path: Path,
) -> None:
    found = lines(
        tmp_path, without="k8s/production/user.yaml", links={"k8s/production/user.yaml": "/etc"}
    )

    assert found == [
        "shipline.yaml: services.user.manifest: 'k8s/production/user.yaml' is a symbolic "
        "link, which Shipline never follows; create it, or set manifest: to the file the "
        "service's image is written in"
    ]


def test_each_environments_manifest_must_hold_the_services_image(tmp_path: Path) -> None:
    broken = DEPLOYMENT.replace("- name: app", "- name: sidecar")
    overlays = {**OVERLAYS, "k8s/production/user.yaml": broken}

    found = lines_on_disk_and_in_git(tmp_path, overlays)

    assert found == [
        "shipline.yaml: services.user.manifest: k8s/production/user.yaml: no container named "
        "'app'; the file has: 'sidecar'; set container: to the container's name "
        "(format: helm for a values file)"
    ]


def test_an_environments_manifests_on_another_gitops_branch_are_not_looked_for_here(
    tmp_path: Path,
) -> None:
    config = ENVIRONMENTS.replace(
        "{name: production, from: staging}",
        "{name: production, from: staging, gitops: {branch: production}}",
    )

    assert lines(tmp_path, without="k8s/production/user.yaml", config=config) == []
    assert lines(tmp_path / "2", without="k8s/staging/user.yaml", config=config) == [
        "shipline.yaml: services.user.manifest: 'k8s/staging/user.yaml' does not exist; "
        "create it, or set manifest: to the file the service's image is written in"
    ]
