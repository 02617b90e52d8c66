"""What a scan sends the git host, built without a host: GitHub's SARIF upload body (gzip,
base64, a category per service) and GitLab's and Gitea's commit statuses; and how GitHub's
answer about the upload's processing is read and when it is asked again."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from services.common.errors import PermanentError
from services.common.events import Finding, ScanFailed, ScanPassed, Source
from services.githost import code_scanning
from services.githost.code_scanning import (
    category,
    commit_status,
    full_ref,
    run_page,
    sarif_upload,
    short_ref,
)
from services.githost.code_scanning_status import next_check, read_status

COMMIT = "c0ffee" + "0" * 34
SARIF = {
    "version": "2.1.0",
    "runs": [{"tool": {"driver": {"name": "Trivy", "rules": []}}, "results": []}],
}


def outcome(passed: bool = True, ref: str = "refs/heads/main") -> ScanPassed | ScanFailed:
    fields = {
        "run_id": "run-7",
        "service": "user-service",
        "source": Source(repository="acme/shop", commit=COMMIT, ref=ref),
        "image_repository": "registry.acme.dev/shop/user-service",
        "tags": ("sha-c0ffee0",),
        "digest": "sha256:" + "a" * 64,
        "counts": {"CRITICAL": 1, "HIGH": 2} if not passed else {"HIGH": 0},
        "policy": "block CRITICAL",
        "sarif_location": "/reports/run-7/user-service.sarif.json",
    }
    if passed:
        return ScanPassed(**fields)  # type: ignore[arg-type]
    finding = Finding(kind="secret", id="private-key", severity="CRITICAL", target="/app/k")
    return ScanFailed(findings=(finding,), **fields)  # type: ignore[arg-type]


def test_the_sarif_goes_gzipped_and_base64_encoded_in_the_services_category() -> None:
    body = sarif_upload(SARIF, outcome(), "main")

    assert (body["commit_sha"], body["ref"], body["tool_name"]) == (
        COMMIT,
        "refs/heads/main",
        "Trivy",
    )
    sent = json.loads(gzip.decompress(base64.b64decode(body["sarif"], validate=True)))
    assert sent["runs"][0]["automationDetails"] == {"id": "shipline/user-service/run-7"}
    assert {**sent["runs"][0], "automationDetails": None} == {
        **SARIF["runs"][0],
        "automationDetails": None,
    }
    assert "automationDetails" not in SARIF["runs"][0]  # the kept SARIF is left as it was
    assert category("user-service") == "shipline/user-service/"


def test_two_services_of_one_commit_upload_in_two_categories() -> None:
    other = outcome().model_copy(update={"service": "account-service"})
    ids = {
        json.loads(gzip.decompress(base64.b64decode(sarif_upload(SARIF, o, "main")["sarif"])))[
            "runs"
        ][0]["automationDetails"]["id"].rsplit("/", 1)[0]
        for o in (outcome(), other)
    }
    assert ids == {"shipline/user-service", "shipline/account-service"}


def test_a_sarif_over_githubs_limit_is_refused_before_it_is_sent(monkeypatch) -> None:
    monkeypatch.setattr(code_scanning, "MAX_GZIPPED_BYTES", 50)

    with pytest.raises(PermanentError, match="over code scanning's 50 bytes: not uploaded"):
        sarif_upload(SARIF, outcome(), "main")


@pytest.mark.parametrize(
    ("ref", "full", "short"),
    [
        ("refs/heads/feature/x", "refs/heads/feature/x", "feature/x"),
        ("refs/tags/v1.2.0", "refs/tags/v1.2.0", "v1.2.0"),
        ("release", "refs/heads/release", "release"),
        ("", "refs/heads/trunk", "trunk"),
    ],
)
def test_a_bare_ref_is_a_branch_and_no_ref_the_default_branch(
    ref: str, full: str, short: str
) -> None:
    assert full_ref(ref, "trunk") == full
    assert short_ref(full_ref(ref, "trunk")) == short


def test_gitlab_gets_a_named_status_on_the_branch_linking_the_run() -> None:
    link = run_page("https://shipline.acme.dev", "run-7")

    status = commit_status("gitlab", outcome(passed=False), link, "main")

    assert status == {
        "state": "failed",
        "name": "shipline/scan/user-service",
        "ref": "main",
        "target_url": "https://shipline.acme.dev/#/runs/run-7",
        "description": "blocked: 1 CRITICAL, 2 HIGH",
    }


def test_gitea_gets_a_status_context_and_no_link_without_shiplines_address() -> None:
    status = commit_status("gitea", outcome(), run_page(None, "run-7"), "main")

    assert status == {
        "state": "success",
        "context": "shipline/scan/user-service",
        "description": "passed, no findings",
    }


def test_githubs_processing_answer_is_read_into_the_scans_host_report() -> None:
    failed = {"processing_status": "failed", "analyses_url": None, "errors": ["bad location"]}
    complete = {"processing_status": "complete", "analyses_url": "https://x/analyses?sarif_id=1"}

    assert read_status(failed)["processing_errors"] == ["bad location"]
    assert read_status(complete)["analyses_url"] == "https://x/analyses?sarif_id=1"
    assert read_status({})["processing_status"] == "pending"  # nothing said: not final yet
    assert read_status({"processing_status": "weird"})["processing_status"] == "pending"


def test_an_upload_is_asked_about_again_after_its_age_from_five_seconds_to_five_minutes() -> None:
    assert [next_check(age) for age in (0, 5, 40, 299, 7200)] == [5, 5, 40, 299, 300]
