"""Running checks: concurrently, each within its deadline; rendering them."""

from __future__ import annotations

import json
import threading
import time

from services.doctor.plan import in_order
from services.doctor.render import as_json, as_text
from services.doctor.result import broken, fail, ok, warn
from services.doctor.runner import Check, run_checks


def test_a_check_that_does_not_answer_in_time_fails_without_holding_up_the_others() -> None:
    release = threading.Event()
    checks = [
        Check("stuck", lambda: [ok("stuck", "never")] if release.wait(30) else [], 0.3, "look"),
        Check("quick", lambda: [ok("quick", "fine")], 1.0),
    ]
    started = time.monotonic()

    results = run_checks(checks)

    release.set()
    assert time.monotonic() - started < 2
    assert [(r.name, r.status, r.detail) for r in results] == [
        ("stuck", "fail", "no answer within 0.3s"),
        ("quick", "ok", "fine"),
    ]
    assert results[0].fix == "look"


def test_checks_run_concurrently() -> None:
    def slow() -> list:
        time.sleep(0.5)
        return [ok("slow", "done")]

    started = time.monotonic()
    results = run_checks([Check(f"c{i}", slow, 5) for i in range(6)])

    assert time.monotonic() - started < 1.5
    assert len(results) == 6


def test_a_check_that_raises_is_one_failed_line_without_the_urls_password() -> None:
    def boom() -> list:
        raise RuntimeError("cannot open redis://:hunter2-secret@db:6379/0")

    [line] = run_checks([Check("redis", boom)])

    assert line.status == "fail"
    assert "hunter2" not in line.detail
    assert "RuntimeError" in line.detail


def test_warnings_alone_are_not_broken() -> None:
    assert not broken([ok("a", "x"), warn("b", "y", "z")])
    assert broken([ok("a", "x"), fail("b", "y", "z")])


def test_the_text_is_one_line_per_check_with_what_to_do_then_a_summary() -> None:
    text = as_text([ok("redis", "Redis 7.0"), fail("registry r:5000", "refused", "check it")])

    assert text.splitlines() == [
        "ok    redis            Redis 7.0",
        "FAIL  registry r:5000  refused  -> check it",
        "broken: 1 failed, 0 warnings, 1 ok",
    ]


def test_the_json_lists_every_check_with_its_status_and_fix() -> None:
    answer = json.loads(as_json([warn("trivy db", "old", "refresh")]))

    assert answer == {
        "status": "ok",
        "checks": [{"name": "trivy db", "status": "warn", "detail": "old", "fix": "refresh"}],
    }


def test_results_are_grouped_by_component_with_shipline_yaml_last() -> None:
    names = [
        "shipline.yaml a@main",
        "gitops a@main",
        "trivy",
        "registry r",
        "docker engine",
        "repository a",
        "intake script",
        "redis",
    ]

    ordered = [r.name for r in in_order([ok(name, "") for name in names])]

    assert ordered == [
        "redis",
        "intake script",
        "docker engine",
        "registry r",
        "trivy",
        "repository a",
        "gitops a@main",
        "shipline.yaml a@main",
    ]
