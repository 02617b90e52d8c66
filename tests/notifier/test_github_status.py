"""GitHub commit statuses against a real recording server standing in for the REST API."""

from __future__ import annotations

import traceback

import pytest

from services.common.errors import PermanentError, TransientError
from services.common.events import ServiceOutcome
from services.common.settings import GitHubStatusChannelSettings
from services.notifier.channels import GitHubStatusChannel
from services.notifier.channels.github_status import commit_status
from tests.notifier.samples import (
    COMMIT,
    account_blocked,
    manifest_committed,
    mixed_run,
    run_completed,
    scan_failed,
    stage_failed,
    user_succeeded,
)
from tests.notifier.servers import Answer, HttpRecorder

TOKEN = "ghp_s3cretT0kenForStatuses0123456789"
STATUSES_PATH = f"/repos/acme/microbank/statuses/{COMMIT}"


def github(api_url: str, **options: object) -> GitHubStatusChannel:
    settings = GitHubStatusChannelSettings(
        type="github_status", api_url=api_url, token=TOKEN, **options
    )
    return GitHubStatusChannel(settings, index=2)


def test_a_run_summary_sets_the_commit_status_of_the_pushed_commit():
    with HttpRecorder(status=201) as api:
        github(api.url).send(run_completed())

    [request] = api.requests
    assert (request.method, request.path) == ("POST", STATUSES_PATH)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.json() == {
        "state": "success",
        "context": "shipline",
        "description": "succeeded: user-service",
    }


def test_the_api_base_url_of_github_enterprise_is_kept_and_the_context_and_link_configured():
    with HttpRecorder(status=201) as api:
        github(
            f"{api.url}/api/v3/",
            context="deploy/prod",
            target_url_template="https://shipline.acme.dev/api/v1/runs/{run_id}",
        ).send(mixed_run())

    [request] = api.requests
    assert request.path == f"/api/v3{STATUSES_PATH}"
    assert request.json() == {
        "state": "failure",
        "context": "deploy/prod",
        "description": "blocked: account-service; succeeded: user-service",
        "target_url": "https://shipline.acme.dev/api/v1/runs/run-42",
    }


@pytest.mark.parametrize(
    ("status", "outcome", "state"),
    [
        ("succeeded", "succeeded", "success"),
        ("blocked", "blocked", "failure"),
        ("failed", "failed", "error"),
        ("superseded", "superseded", "success"),
        ("succeeded", "held", "success"),
    ],
)
def test_outcomes_map_to_github_states(status, outcome, state):
    service = ServiceOutcome.model_construct(status=outcome)
    event = run_completed(status, **{"user-service": service})

    found = commit_status(event)

    assert found is not None
    assert (found.state, found.description) == (state, f"{outcome}: user-service")


def test_an_outcome_github_has_no_state_for_is_an_error():
    event = run_completed().model_copy(update={"status": "exploded"})

    assert commit_status(event).state == "error"


def test_a_description_is_cut_to_githubs_140_characters():
    services = {f"service-number-{n:03d}": user_succeeded() for n in range(30)}

    description = commit_status(run_completed(**services)).description

    assert len(description) == 140
    assert description.endswith("…")


def test_a_service_event_sets_a_status_per_service_when_the_channel_takes_it():
    channel_events = ["RunCompleted", "ManifestCommitted", "ScanFailed"]
    with HttpRecorder(status=201) as api:
        channel = github(api.url, events=channel_events)
        for event in (manifest_committed(), scan_failed()):
            channel.send(channel.select(event))

    deployed, blocked = (request.json() for request in api.requests)
    assert [request.path for request in api.requests] == [STATUSES_PATH, STATUSES_PATH]
    assert deployed == {
        "state": "success",
        "context": "shipline/user-service",
        "description": "deployed 127.0.0.1:5000/microbank/user-service:sha-6113728",
    }
    assert blocked == {
        "state": "failure",
        "context": "shipline/account-service",
        "description": "blocked: 1 CRITICAL",
    }


def test_events_without_a_source_commit_are_not_for_this_channel():
    channel = github("http://127.0.0.1:1", events=["RunCompleted", "StageFailed"])
    no_commit = run_completed().model_copy(update={"commit": ""})

    assert channel.select(stage_failed()) is None
    assert channel.select(no_commit) is None
    assert channel.select(run_completed()) is not None


def test_github_refusing_the_status_is_permanent_and_never_shows_the_token():
    answer = Answer(422, '{"message": "No commit found for SHA: 6113728f"}')
    with (
        HttpRecorder(answers=[answer]) as api,
        pytest.raises(PermanentError) as raised,
    ):
        github(api.url).send(run_completed())

    assert str(raised.value) == (
        'github_status-2: answered HTTP 422: {"message": "No commit found for SHA: 6113728f"}'
    )
    assert TOKEN not in "".join(traceback.format_exception(raised.value))


def test_a_bad_token_is_permanent_even_when_github_echoes_it():
    with (
        HttpRecorder(answers=[Answer(401, f'{{"message": "Bad credentials: {TOKEN}"}}')]) as api,
        pytest.raises(PermanentError) as raised,
    ):
        github(api.url).send(run_completed())

    assert TOKEN not in str(raised.value)
    assert "Bad credentials: ***" in str(raised.value)


def test_githubs_rate_limit_is_retried_later():
    limited = Answer(403, '{"message": "API rate limit exceeded"}', {"x-ratelimit-remaining": "0"})
    with HttpRecorder(status=201, answers=[limited]) as api:
        channel = github(api.url)
        with pytest.raises(TransientError, match="^github_status-2: answered HTTP 403$"):
            channel.send(run_completed())
        channel.send(run_completed())

    assert len(api.requests) == 2


def test_a_forbidden_answer_with_requests_left_is_permanent():
    with (
        HttpRecorder(answers=[Answer(403, "Resource not accessible by integration")]) as api,
        pytest.raises(PermanentError, match="answered HTTP 403"),
    ):
        github(api.url).send(run_completed())


def test_a_repository_that_is_not_owner_and_name_is_refused_without_a_request():
    event = run_completed().model_copy(update={"repository": "group/sub/project"})
    with (
        HttpRecorder(status=201) as api,
        pytest.raises(PermanentError, match="not a GitHub owner/repository"),
    ):
        github(api.url).send(event)

    assert api.requests == []


def test_a_blocked_service_alone_fails_the_commit_status():
    event = run_completed("blocked", **{"account-service": account_blocked()})

    assert commit_status(event).state == "failure"
