"""Which services a push rebuilds once each is judged on what it runs: the decision alone."""

from __future__ import annotations

import pytest

from services.common.project import entries_of, parse_project
from services.detector.attempts import GAVE_UP, attempt_of
from services.detector.converge import (
    Facts,
    added,
    behind_plan,
    converged,
    differing,
    disputed,
    judged_on_deployed,
)
from tests.detector.conftest import SHIPLINE_YAML

D = "d" * 40


@pytest.mark.parametrize(
    ("facts", "judged"),
    [
        (Facts(deployed=D), True),
        (Facts(deployed=None), False),
        (Facts(deployed=D, pinned=True), False),
        (Facts(deployed=D, attempt="under way"), False),
        (Facts(deployed=D, attempt="failed for good"), False),
        (Facts(deployed=D, attempt="failed transiently"), True),
        (Facts(deployed=D, attempt="ended"), True),
        (Facts(deployed=D, deployed_is_newer=True), False),
    ],
    ids=[
        "on record",
        "no record",
        "pinned",
        "its build under way",
        "its build failed for good",
        "its build failed on an outage",
        "its build ended",
        "a newer commit deployed",
    ],
)
def test_a_service_is_judged_on_its_deployed_commit_only_when_nothing_else_decides(facts, judged):
    assert judged_on_deployed(facts) is judged


def test_a_service_behind_is_added_to_the_push_and_one_up_to_date_is_dropped_from_it():
    today = {"web": ("paths", ("web/src/a",)), "user": ("paths", ("user/x",))}
    behind = {"web", "account"}
    facts = {"user": Facts(deployed=D), "account": Facts(deployed=D)}
    reasons = {"account": ("paths", ("account/y",))}

    result = converged(today, behind, facts, reasons)

    assert result == {"web": ("paths", ("web/src/a",)), "account": ("paths", ("account/y",))}
    assert added(today, behind, facts) == ["account"]


def test_a_service_judged_on_the_push_keeps_the_push_outcome_either_way():
    today = {"user": ("paths", ("user/x",))}
    facts = {"user": Facts(deployed=D, pinned=True), "account": Facts(D, attempt="under way")}

    assert converged(today, {"account"}, facts, {}) == today
    assert added(today, {"account"}, facts) == []


def test_only_services_whose_outcome_depends_on_the_judgement_are_disputed():
    today = {"web": ("paths", ()), "user": ("paths", ())}
    deployed = {"web": D, "user": D, "account": D}

    assert disputed(today, {"web", "account"}, deployed) == ["account", "user"]


PROJECT = parse_project(SHIPLINE_YAML.encode(), "shipline.yaml")
E = "e" * 40


def test_each_service_is_compared_with_its_own_deployed_commit():
    deployed = {"user-service": D, "account-service": E, "web": E}
    diffs = {D: ["user_service/app.txt"], E: ["user_service/app.txt", "web/src/index.html"]}

    result = behind_plan(PROJECT, deployed, diffs, {})

    assert differing(PROJECT, deployed, diffs, {}) == {"user-service", "web"}
    assert result == {
        "user-service": ("paths", ("user_service/app.txt",)),
        "web": ("paths", ("web/src/index.html",)),
    }


def test_a_dependency_or_global_path_changed_since_the_deployed_commit_puts_it_behind():
    deployed = {"user-service": D, "web": E}
    diffs = {D: ["libs/common/lib.sh"], E: ["package-lock.json"]}

    result = behind_plan(PROJECT, deployed, diffs, {})

    assert differing(PROJECT, deployed, diffs, {}) == {"user-service", "web"}
    assert result == {
        "user-service": ("dependency", ("libs/common/lib.sh",)),
        "web": ("dependency", ("package-lock.json",)),
    }


def test_manifests_ignored_paths_and_an_equal_tree_put_nothing_behind():
    deployed = {"user-service": D, "web": E}
    diffs = {D: ["k8s/manifests/user-service/deployment.yaml", "README.md"], E: []}

    assert behind_plan(PROJECT, deployed, diffs, {}) == {}
    assert differing(PROJECT, deployed, diffs, {}) == set()


def test_a_shipline_yaml_changed_since_the_deployed_commit_puts_behind_only_the_entries_changed():
    earlier = entries_of(SHIPLINE_YAML.replace("path: web/src/", "path: web/").encode())
    deployed = {"user-service": D, "web": D}

    result = behind_plan(PROJECT, deployed, {D: ["shipline.yaml"]}, {D: earlier})

    assert differing(PROJECT, deployed, {D: ["shipline.yaml"]}, {D: earlier}) == {"web"}
    assert result == {"web": ("paths", ("shipline.yaml",))}


@pytest.mark.parametrize(
    ("status", "reason", "attempt"),
    [
        (None, "", "none"),
        ("pending", "", "under way"),
        ("running", "", "under way"),
        ("succeeded", "", "ended"),
        ("superseded", "", "ended"),
        ("held", "", "ended"),
        ("blocked", "blocked by 2 CRITICAL", "failed for good"),
        ("failed", "builder: PermanentError: no Dockerfile", "failed for good"),
        (
            "failed",
            f"builder: TransientError: registry down {GAVE_UP}5 attempts)",
            "failed transiently",
        ),
    ],
)
def test_a_last_build_reads_from_its_status_and_reason(status, reason, attempt):
    assert attempt_of(status, reason) == attempt


def test_a_service_deployed_from_an_unknown_or_unreadable_shipline_yaml_differs():
    deployed = {"user-service": D, "web": E}
    diffs = {D: ["shipline.yaml"], E: ["shipline.yaml"]}

    assert differing(PROJECT, deployed, diffs, {D: None}) == {"user-service", "web"}


def test_only_the_services_deployed_from_a_commit_are_judged_on_its_diff():
    deployed = {"user-service": D}
    diffs = {D: ["web/src/index.html"], E: ["user_service/app.txt"]}

    assert differing(PROJECT, deployed, diffs, {}) == set()
