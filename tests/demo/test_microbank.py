from pathlib import Path

import pytest
from ruamel.yaml import YAML

from services.committer.manifest import set_container_image
from services.common.project import Project, read_project
from services.demo.microbank import (
    APP_FILE,
    ENVIRONMENTS,
    SERVICES,
    SOAK_SECONDS,
    touch_service,
    write_microbank,
)

REGISTRY = "127.0.0.1:5000/microbank"
BASE_IMAGE = "shipline-busybox:1"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "microbank"
    root.mkdir()
    write_microbank(root, REGISTRY, BASE_IMAGE)
    return root


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_write_microbank_returns_the_five_services_in_order(tmp_path: Path) -> None:
    names = write_microbank(tmp_path, REGISTRY + "/", BASE_IMAGE)

    assert names == [
        "user-service",
        "account-service",
        "transaction-service",
        "notification-service",
        "frontend",
    ]


def test_every_service_has_a_dockerfile_from_the_base_image_and_a_manifest(repo: Path) -> None:
    for service, path in SERVICES.items():
        dockerfile = (repo / path / "Dockerfile").read_text()
        assert f"\nFROM {BASE_IMAGE}\n" in dockerfile
        assert "\nRUN " in dockerfile and "\nCMD " in dockerfile
        assert (repo / path / ".dockerignore").is_file()
        assert (repo / f"k8s/manifests/{service}/deployment.yaml").is_file()


def test_dockerfiles_copy_only_files_that_are_in_their_context(repo: Path) -> None:
    for path in SERVICES.values():
        context = repo / path
        ignore = (context / ".dockerignore").read_text().splitlines()
        allowed = {line[1:] for line in ignore if line.startswith("!")}
        copy = next(
            line
            for line in (context / "Dockerfile").read_text().splitlines()
            if line.startswith("COPY ")
        )
        sources = copy.split()[1:-1]
        assert sources and set(sources) <= allowed
        assert all((context / source).is_file() for source in sources)
    assert (repo / "user_service/run.sh").stat().st_mode & 0o111


def test_shipline_yaml_parses_and_every_path_it_names_exists(repo: Path) -> None:
    config = YAML(typ="safe").load((repo / "shipline.yaml").read_text())

    assert set(config) == {"registry", "gitops", "services"}
    assert config["registry"] == REGISTRY
    assert config["gitops"] == {"branch": "main"}
    assert list(config["services"]) == list(SERVICES)
    for service, entry in config["services"].items():
        assert set(entry) == {"path", "depends_on", "dockerfile", "context", "manifest"}
        assert entry["path"] == entry["context"] == SERVICES[service]
        assert (repo / entry["path"]).is_dir()
        assert (repo / entry["context"]).is_dir()
        assert (repo / entry["dockerfile"]).is_file()
        assert (repo / entry["manifest"]).is_file()
        assert all((repo / dependency).is_dir() for dependency in entry["depends_on"])
    backends = [s for s, e in config["services"].items() if e["depends_on"] == ["libs/common/"]]
    assert backends == [s for s in SERVICES if s != "frontend"]


def test_manifests_hold_a_deployment_then_a_service_for_the_named_container(repo: Path) -> None:
    for service in SERVICES:
        text = (repo / f"k8s/manifests/{service}/deployment.yaml").read_text()
        deployment, svc = YAML(typ="safe").load_all(text)

        assert text.startswith("#") and "\n---\n" in text
        assert (deployment["kind"], svc["kind"]) == ("Deployment", "Service")
        pod = deployment["spec"]["template"]
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= pod["metadata"]["labels"].items()
        )
        assert svc["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        (container,) = pod["spec"]["containers"]
        assert container["name"] == service
        assert container["image"] == f"{REGISTRY}/{service}:initial"
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["limits"]


def test_every_manifest_image_can_be_bumped_by_the_committer(repo: Path) -> None:
    for service in SERVICES:
        text = (repo / f"k8s/manifests/{service}/deployment.yaml").read_text()
        new = f"{REGISTRY}/{service}:sha-0123abc"

        edit = set_container_image(text, new, container=service)

        assert edit.changed
        assert edit.old_image == f"{REGISTRY}/{service}:initial"
        assert edit.text == text.replace(edit.old_image, new)


def test_touch_service_changes_only_that_services_app_file(repo: Path) -> None:
    before = snapshot(repo)

    changed = touch_service(repo, "account_service/", "fees are now waived")

    after = snapshot(repo)
    assert changed == repo / "account_service" / APP_FILE
    assert [p for p in after if after[p] != before[p]] == [Path("account_service", APP_FILE)]
    assert after[Path("account_service", APP_FILE)].endswith(b"\nfees are now waived\n")


@pytest.mark.parametrize(
    ("service_path", "note"),
    [
        ("../outside/", "x"),
        ("libs/common/", "x"),
        ("user_service/", "two\nlines"),
        ("user_service/", "  "),
    ],
)
def test_touch_service_rejects_non_services_and_multi_line_notes(
    repo: Path, service_path: str, note: str
) -> None:
    outside = repo.parent / "outside"  # looks like a service, but is not in the repository
    outside.mkdir()
    (outside / APP_FILE).write_text("x\n")

    with pytest.raises(ValueError):
        touch_service(repo, service_path, note)


def test_write_microbank_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        write_microbank(tmp_path / "missing", REGISTRY, BASE_IMAGE)


def test_with_environments_staging_takes_pushes_and_production_auto_promotes_from_it(
    tmp_path: Path,
) -> None:
    write_microbank(tmp_path, REGISTRY, BASE_IMAGE, environments=True)

    project = read_project((tmp_path / "shipline.yaml").read_text())

    assert isinstance(project, Project), project
    staging, production = project.environments
    assert (staging.name, production.name) == ENVIRONMENTS
    assert (production.source, production.approval) == ("staging", "auto")
    assert production.soak_seconds == SOAK_SECONDS
    for service in SERVICES:
        for environment in ENVIRONMENTS:
            path = project.manifest_path(service, environment)
            assert path == f"k8s/overlays/{environment}/{service}.yaml"
            manifest = (tmp_path / path).read_text()
            assert f"image: {REGISTRY}/{service}:initial" in manifest
    assert not (tmp_path / "k8s/manifests").exists()
