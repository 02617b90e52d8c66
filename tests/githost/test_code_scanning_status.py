"""What GitHub made of a code-scanning upload, read after the scan on a loopback GitHub checked
against GitHub's published OpenAPI description and a real Redis: pending, then complete (with
the analyses' URL) or failed (with GitHub's errors), recorded in the scan's host report; an
upload GitHub never finishes is given up as `unknown` after an hour; one GitHub does not know
is recorded `not_found`; a host that is down is asked again later."""

from __future__ import annotations

import time

import pytest
import redis

from services.common.events import ScanPassed
from services.common.repository_settings import GitHost, Repository
from services.common.scan_host_reports import HostReport, ScanHostReports
from services.githost.code_scanning_status import GIVE_UP_SECONDS, UploadStatusCheck
from tests.githost.conftest import TOKEN
from tests.githost.fake_github import FakeGitHub
from tests.githost.test_code_scanning import on_github, reporter, scan  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration  # npm fetches the description into the devenv state

PENDING_INDEX = "shipline:code-scanning:pending"


class Clock:
    """The wall clock moved on by hand: uploads come due without waiting for them."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


def uploaded(redis_client: redis.Redis, host: GitHost, scan: ScanPassed) -> HostReport:  # noqa: F811
    report = reporter(redis_client, host).report(scan)
    assert report is not None and report.state == "uploaded"
    assert report.processing_status == "pending" and report.checked_at is None
    return report


def follow_up(redis_client: redis.Redis, host: GitHost, clock: Clock) -> UploadStatusCheck:
    repo = Repository(name="acme/shop", url="file:///x", webhook_secret="x" * 20, host=host)
    return UploadStatusCheck([repo], ScanHostReports(redis_client), now=clock)


def kept(redis_client: redis.Redis) -> HostReport:
    report = ScanHostReports(redis_client).get("run-7", "user-service")
    assert report is not None
    return report


def test_an_upload_read_pending_then_complete_records_its_analyses_and_is_asked_no_more(
    github: FakeGitHub,
    redis_client: redis.Redis,
    scan: ScanPassed,  # noqa: F811
) -> None:
    github.code_scanning.pending_answers = 1
    host, clock = on_github(github), Clock()
    upload = uploaded(redis_client, host, scan)
    check = follow_up(redis_client, host, clock)

    assert check.pass_once() == 0  # not due yet: GitHub is given a few seconds
    clock.ahead = 6
    assert check.pass_once() == 1
    first = kept(redis_client)
    assert first.processing_status == "pending" and first.checked_at is not None
    assert check.pass_once() == 0  # asked again only after as long again as the upload's age
    clock.ahead = 20
    assert check.pass_once() == 1

    done = kept(redis_client)
    assert done.processing_status == "complete" and done.processing_errors is None
    assert done.analyses_url and done.analyses_url.endswith(f"analyses?sarif_id={upload.sarif_id}")
    assert done.checked_at is not None and done.checked_at > first.checked_at
    assert (done.sarif_id, done.state, done.at) == (upload.sarif_id, "uploaded", upload.at)
    status_path = f"/repos/acme/shop/code-scanning/sarifs/{upload.sarif_id}"
    assert github.host.operations()[1:] == [("GET", status_path)] * 2
    assert github.host.violations == []
    clock.ahead = 600
    assert check.pass_once() == 0 and redis_client.zcard(PENDING_INDEX) == 0


def test_an_upload_github_failed_to_process_records_githubs_errors(
    github: FakeGitHub,
    redis_client: redis.Redis,
    scan: ScanPassed,  # noqa: F811
) -> None:
    github.code_scanning.pending_answers = 1
    github.code_scanning.processed = "failed"
    github.code_scanning.errors = ["locationFromSarifResult: expected artifact location"]
    host, clock = on_github(github), Clock()
    uploaded(redis_client, host, scan)
    check = follow_up(redis_client, host, clock)

    clock.ahead = 6
    check.pass_once()
    assert kept(redis_client).processing_status == "pending"
    clock.ahead = 20
    check.pass_once()

    failed = kept(redis_client)
    assert failed.processing_status == "failed" and failed.analyses_url is None
    assert failed.processing_errors == ["locationFromSarifResult: expected artifact location"]
    assert github.host.violations == []
    assert redis_client.zcard(PENDING_INDEX) == 0


def test_an_upload_still_pending_after_an_hour_is_recorded_unknown_without_asking_again(
    github: FakeGitHub,
    redis_client: redis.Redis,
    scan: ScanPassed,  # noqa: F811
) -> None:
    github.code_scanning.pending_answers = 1000
    host, clock = on_github(github), Clock()
    uploaded(redis_client, host, scan)
    check = follow_up(redis_client, host, clock)
    clock.ahead = 6
    check.pass_once()
    asked = len(github.host.operations())

    clock.ahead = GIVE_UP_SECONDS + 1
    check.pass_once()

    assert kept(redis_client).processing_status == "unknown"
    assert len(github.host.operations()) == asked
    assert redis_client.zcard(PENDING_INDEX) == 0


def test_an_upload_github_does_not_know_is_recorded_not_found_and_given_up_after_a_while(
    github: FakeGitHub,
    redis_client: redis.Redis,
    scan: ScanPassed,  # noqa: F811
) -> None:
    host, clock = on_github(github), Clock()
    upload = uploaded(redis_client, host, scan)
    unknown = upload.model_copy(update={"sarif_id": "47177e22-5596-11eb-80a1-c1e54ef945c6"})
    ScanHostReports(redis_client).record("run-7", "user-service", unknown)
    check = follow_up(redis_client, host, clock)

    clock.ahead = 6
    check.pass_once()
    early = kept(redis_client)
    assert early.processing_status == "not_found"
    assert early.check_error and "HTTP 404" in early.check_error
    assert redis_client.zcard(PENDING_INDEX) == 1  # GitHub may not have stored it yet
    clock.ahead = 300
    check.pass_once()

    assert kept(redis_client).processing_status == "not_found"
    assert redis_client.zcard(PENDING_INDEX) == 0
    assert github.host.violations == []


def test_a_host_down_while_asking_is_recorded_and_asked_again_later(
    github: FakeGitHub,
    redis_client: redis.Redis,
    scan: ScanPassed,  # noqa: F811
) -> None:
    host, clock = on_github(github), Clock()
    uploaded(redis_client, host, scan)
    down = GitHost(type="github", api_url="http://127.0.0.1:9", token=TOKEN)

    clock.ahead = 6
    follow_up(redis_client, down, clock).pass_once()

    waiting = kept(redis_client)
    assert waiting.processing_status == "pending"
    assert waiting.check_error and waiting.check_error.startswith("GitHub GET ")
    assert TOKEN not in waiting.model_dump_json()
    clock.ahead = 20
    follow_up(redis_client, host, clock).pass_once()
    assert kept(redis_client).processing_status == "complete"
    assert kept(redis_client).check_error is None
