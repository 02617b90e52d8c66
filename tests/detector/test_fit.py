"""The pushed commit checked against its shipline.yaml before anything is built (real git
mirror): the run fails with `shipline validate`'s lines instead of failing at the build or
skipping silently; and a shipline.yaml change rebuilds only the entries it changed."""

from __future__ import annotations

import pytest

from services.common.events import BuildRequested
from services.detector.detect import Skip
from services.detector.fit import ShiplineYamlMismatch
from tests.detector.conftest import LAYOUT, NAME, SHIPLINE_YAML, Monorepo, deployment

HEADER = "shipline.yaml does not fit commit {}, nothing was built"


def test_a_service_path_that_does_not_exist_fails_the_push_with_the_validate_line(
    seeded: Monorepo,
) -> None:
    moved = SHIPLINE_YAML.replace("path: user_service/", "path: usr_service/")
    seeded.commit({"shipline.yaml": moved})
    push = seeded.push()

    with pytest.raises(ShiplineYamlMismatch) as raised:
        seeded.detect(push)

    header, *lines = str(raised.value).splitlines()
    assert header.startswith(HEADER.format(push.after[:7]))
    assert lines == [
        "shipline.yaml: services.user-service.path: 'usr_service/' does not exist; "
        "did you mean 'user_service/'?"
    ]


def test_a_change_to_shipline_yaml_is_checked_whole_not_only_the_entries_it_rebuilds(
    seeded: Monorepo,
) -> None:
    edited = SHIPLINE_YAML.replace("dockerfile: web/Dockerfile", "dockerfile: web/Dockerfile.prod")
    edited = edited.replace(
        "depends_on: [libs/common/]\n  account", "depends_on: [libs/comon/]\n  account", 1
    )
    seeded.commit({"shipline.yaml": edited, "web/Dockerfile.prod": "FROM scratch\n"})

    with pytest.raises(ShiplineYamlMismatch) as raised:
        seeded.detect(seeded.push())

    assert str(raised.value).splitlines()[1:] == [
        "shipline.yaml: services.user-service.depends_on.0: 'libs/comon/' does not exist; "
        "did you mean 'libs/common/'?"
    ]


def test_a_push_no_service_watches_fails_when_a_service_path_is_wrong_instead_of_skipping(
    mono: Monorepo,
) -> None:
    wrong = SHIPLINE_YAML.replace("path: account_service/", "path: accounts/")
    mono.commit({**LAYOUT, "shipline.yaml": wrong}, "initial")
    mono.push()
    mono.commit({"account_service/app.txt": "account v2\n"})  # the folder the user meant

    with pytest.raises(ShiplineYamlMismatch, match="services.account-service.path: 'accounts/'"):
        mono.detect(mono.push())


def test_a_push_that_breaks_a_built_services_manifest_fails_before_the_build(
    seeded: Monorepo,
) -> None:
    renamed = deployment("web").replace("- name: web", "- name: frontend")
    seeded.commit({"web/src/index.html": "web v2\n", "k8s/manifests/web/deployment.yaml": renamed})

    with pytest.raises(ShiplineYamlMismatch) as raised:
        seeded.detect(seeded.push())

    assert str(raised.value).splitlines()[1] == (
        "shipline.yaml: services.web.manifest: k8s/manifests/web/deployment.yaml: no container "
        "named 'web'; the file has: 'frontend'; set container: to the container's name "
        "(format: helm for a values file)"
    )


def test_a_forced_build_of_a_service_without_its_dockerfile_fails_before_the_build(
    seeded: Monorepo,
) -> None:
    from services.detector.task import requested_changes

    seeded.commit({"web/Dockerfile": None})
    seeded.push()
    request = BuildRequested(
        run_id="forced", repository=NAME, ref="refs/heads/main", services=("web",)
    )

    with pytest.raises(ShiplineYamlMismatch, match="services.web.dockerfile: 'web/Dockerfile'"):
        requested_changes(request, seeded.mirror, seeded.settings)


# --- what a shipline.yaml change rebuilds ----------------------------------------------------


def test_a_typo_fixed_in_one_services_entry_rebuilds_only_that_service(mono: Monorepo) -> None:
    typo = SHIPLINE_YAML.replace("dockerfile: web/Dockerfile", "dockerfil: web/Dockerfile")
    mono.commit({**LAYOUT, "shipline.yaml": typo}, "initial, with a typo")
    mono.push()  # this one failed: shipline.yaml did not parse

    mono.commit({"shipline.yaml": SHIPLINE_YAML}, "fix the typo")
    built = mono.built(mono.push())

    assert list(built) == ["web"]
    assert built["web"].changed_paths == ("shipline.yaml",)


def test_an_entry_spelt_out_with_its_defaults_rebuilds_nothing(seeded: Monorepo) -> None:
    explicit = SHIPLINE_YAML.replace(
        "    path: user_service/\n",
        "    path: user_service\n    dockerfile: user_service/Dockerfile\n"
        "    context: user_service/\n    container: user-service\n"
        "    manifest: k8s/manifests/user-service/deployment.yaml\n",
    )
    seeded.commit({"shipline.yaml": explicit})

    assert seeded.detect(seeded.push()) == Skip("no service changed")


def test_a_new_build_arg_rebuilds_that_service_and_auto_rollback_rebuilds_nothing(
    seeded: Monorepo,
) -> None:
    with_arg = SHIPLINE_YAML.replace(
        "    path: web/src/\n", "    path: web/src/\n    build_args: {MODE: prod}\n"
    )
    seeded.commit({"shipline.yaml": with_arg})
    assert list(seeded.built(seeded.push())) == ["web"]

    watched = with_arg.replace(
        "    path: user_service/\n", "    path: user_service/\n    auto_rollback: true\n"
    )
    seeded.commit({"shipline.yaml": watched})
    assert seeded.detect(seeded.push()) == Skip("no service changed")
