"""shipline.yaml against the tree it is committed in: on disk and at a commit of a real mirror."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.common.git import Mirror
from services.common.project_checks import problems_at_commit, problems_in_text
from services.common.project_trees import WorkingTree

pytestmark = pytest.mark.integration  # git repositories built with the git binary

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: user}
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example.com/acme/user:1
"""
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]
images:
  - name: registry.example.com/acme/web
    newTag: "1"
"""
LAYOUT = {
    "src/user/Dockerfile": "FROM scratch\n",
    "src/web/Dockerfile": "FROM scratch\n",
    "libs/common/lib.txt": "shared\n",
    "k8s/user.yaml": DEPLOYMENT,
    "k8s/web/kustomization.yaml": KUSTOMIZATION,
}
GOOD = """\
registry: registry.example.com/acme
services:
  user:
    path: src/user
    depends_on: [libs/common/]
    manifest: k8s/user.yaml
    container: app
  web:
    path: src/web/
    manifest: k8s/web/kustomization.yaml
"""


def make_repo(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for name, target in (links or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(target)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=d", "-c", "user.email=d@example.com"]
        + ["commit", "-q", "-m", "init"],
        check=True,
    )
    return root


def lines_on_disk_and_in_git(tmp_path: Path, shipline_yaml: str, **kw: object) -> list[str]:
    """The problem lines of both trees, which must agree."""
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "shipline.yaml": shipline_yaml}, **kw)  # type: ignore[arg-type]
    on_disk = [p.line() for p in problems_in_text(shipline_yaml, WorkingTree(repo))]
    mirror = Mirror(f"file://{repo}", tmp_path / "mirrors")
    mirror.fetch()
    in_git = [p.line() for p in problems_at_commit(mirror, mirror.resolve("main") or "")]
    assert on_disk == in_git
    return in_git


def test_a_shipline_yaml_that_fits_its_tree_has_no_problems(tmp_path: Path) -> None:
    assert lines_on_disk_and_in_git(tmp_path, GOOD) == []


def test_a_misspelt_service_path_is_reported_with_the_folder_it_probably_means(
    tmp_path: Path,
) -> None:
    config = GOOD.replace("path: src/user", "path: src/usr")

    assert lines_on_disk_and_in_git(tmp_path, config) == [
        "shipline.yaml: services.user.path: 'src/usr' does not exist; did you mean 'src/user'?"
    ]


def test_missing_context_dockerfile_dependency_and_global_path_are_each_one_line(
    tmp_path: Path,
) -> None:
    config = GOOD.replace("depends_on: [libs/common/]", "depends_on: [libs/nothing-like-it]")
    config = config.replace(
        "    path: src/web/\n",
        "    path: src/web/\n    context: src\n    dockerfile: src/Dockerfile\n",
    )
    config = "global_paths: [go.work]\n" + config

    assert lines_on_disk_and_in_git(tmp_path, config) == [
        "shipline.yaml: services.user.depends_on.0: 'libs/nothing-like-it' does not exist; "
        "correct or remove it",
        "shipline.yaml: services.web.dockerfile: 'src/Dockerfile' does not exist; "
        "correct it to the Dockerfile's path",
        "shipline.yaml: global_paths.0: 'go.work' does not exist; correct or remove it",
    ]


def test_a_service_without_a_dockerfile_is_told_where_the_default_one_is_looked_for(
    tmp_path: Path,
) -> None:
    config = (
        GOOD + "  docs:\n    path: libs/common\n    manifest: k8s/user.yaml\n    container: app\n"
    )

    assert lines_on_disk_and_in_git(tmp_path, config) == [
        "shipline.yaml: services.docs.dockerfile: no Dockerfile at 'libs/common/Dockerfile' "
        "(the default without dockerfile:); add it, or set dockerfile: to the Dockerfile's path"
    ]


def test_a_manifest_without_the_named_container_names_the_containers_it_has(
    tmp_path: Path,
) -> None:
    config = GOOD.replace("    container: app\n", "")

    assert lines_on_disk_and_in_git(tmp_path, config) == [
        "shipline.yaml: services.user.manifest: k8s/user.yaml: no container named 'user'; "
        "the file has: 'app'; set container: to the container's name "
        "(format: helm for a values file)"
    ]


def test_a_kustomization_is_read_as_kustomize_and_checked_for_its_image_entry(
    tmp_path: Path,
) -> None:
    config = GOOD.replace("    manifest: k8s/web/kustomization.yaml\n", "").replace(
        "  web:\n", "  web:\n    manifest: k8s/web/kustomization.yaml\n    image_name: nginx\n"
    )

    [line] = lines_on_disk_and_in_git(tmp_path, config)

    assert line.startswith(
        "shipline.yaml: services.web.manifest: k8s/web/kustomization.yaml: "
        "no images entry named 'nginx'"
    )
    assert line.endswith("add an images: entry for it, or set image_name: to the entry's name")


def test_helm_values_are_checked_for_the_configured_keys(tmp_path: Path) -> None:
    values = "image:\n  repository: registry.example.com/acme/user\n  version: '1'\n"
    config = GOOD.replace("    container: app\n", "    format: helm\n").replace(
        "k8s/user.yaml", "k8s/values.yaml"
    )
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "k8s/values.yaml": values})

    [problem] = problems_in_text(config, WorkingTree(repo))

    assert problem.key == "services.user.manifest"
    assert "set helm.repository and helm.tag" in problem.fix


def test_a_missing_default_manifest_is_reported_with_the_default_path(tmp_path: Path) -> None:
    config = GOOD.replace("    manifest: k8s/user.yaml\n", "")

    assert lines_on_disk_and_in_git(tmp_path, config) == [
        "shipline.yaml: services.user.manifest: 'k8s/manifests/user/deployment.yaml' does not "
        "exist; create it, or set manifest: to the file the service's image is written in"
    ]


def test_manifests_in_another_gitops_repository_are_not_looked_for(tmp_path: Path) -> None:
    config = "gitops: {repository: acme/deploy}\n" + GOOD.replace("k8s/user.yaml", "k8s/no.yaml")
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "shipline.yaml": config})
    mirror = Mirror(f"file://{repo}", tmp_path / "mirrors")
    mirror.fetch()
    commit = mirror.resolve("main") or ""

    assert problems_at_commit(mirror, commit, "acme/mono") == []
    assert problems_in_text(config, WorkingTree(repo)) == []
    [problem] = problems_at_commit(mirror, commit, "acme/deploy")
    assert problem.line().startswith("shipline.yaml: services.user.manifest: 'k8s/no.yaml' does")


def test_a_symbolic_link_as_a_service_path_is_refused_not_followed(tmp_path: Path) -> None:
    config = GOOD.replace("path: src/user", "path: src/alias")

    lines = lines_on_disk_and_in_git(tmp_path, config, links={"src/alias": "user"})

    assert lines == [
        "shipline.yaml: services.user.path: 'src/alias' is a symbolic link, which Shipline "
        "never follows; correct it to the service's folder"
    ]


def test_an_ignore_glob_that_covers_a_service_or_its_dockerfile_is_reported(
    tmp_path: Path,
) -> None:
    config = "ignore: ['src/web/', 'src/user/**']\n" + GOOD

    assert lines_on_disk_and_in_git(tmp_path, config) == [
        "shipline.yaml: services.user.dockerfile: 'src/user/Dockerfile' is covered by an ignore "
        "glob: changing it never rebuilds the service; narrow the ignore pattern",
        "shipline.yaml: services.web.path: 'src/web/' is covered by an ignore glob: changes "
        "there never build it; narrow the ignore pattern",
    ]


@pytest.mark.parametrize(
    ("typo", "key", "suggestion"),
    [
        ("dockerfil: src/user/Dockerfile", "services.user.dockerfil", "'dockerfile'"),
        ("manifests: k8s/user.yaml", "services.user.manifests", "'manifest'"),
        ("depends-on: [libs/]", "services.user.depends-on", "'depends_on'"),
    ],
)
def test_a_typo_in_a_key_is_answered_with_the_closest_valid_key(
    tmp_path: Path, typo: str, key: str, suggestion: str
) -> None:
    config = GOOD.replace("    container: app\n", f"    container: app\n    {typo}\n")

    [line] = lines_on_disk_and_in_git(tmp_path, config)

    assert line == (
        f"shipline.yaml: {key}: Extra inputs are not permitted; did you mean {suggestion}?"
    )


def test_shipline_yaml_missing_at_the_commit_is_one_problem(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", LAYOUT)
    mirror = Mirror(f"file://{repo}", tmp_path / "mirrors")
    mirror.fetch()
    commit = mirror.resolve("main") or ""

    [problem] = problems_at_commit(mirror, commit)

    assert problem.line() == (
        f"shipline.yaml: missing at {commit[:7]}; commit one at the repository's root "
        "(docs/shipline-yaml.md)"
    )
