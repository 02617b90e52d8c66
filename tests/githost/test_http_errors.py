"""A git host's refusals become TransientError (retry: 5xx, rate limits, an unreachable
host) or PermanentError (any other 4xx, with the host's message); never with the token."""

from __future__ import annotations

import pytest

from services.common.errors import PermanentError, TransientError
from services.common.repository_settings import GitHost
from services.githost import pull_requests_for
from services.githost.http import RateLimited
from tests.githost.conftest import TOKEN
from tests.githost.fake_gitlab import FakeGitLab
from tests.githost.loopback import Reply


def get_first(gitlab: FakeGitLab) -> None:
    host = GitHost(type="gitlab", api_url=gitlab.api_url, token=TOKEN)
    pull_requests_for(host, "acme/gitops").get(1)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_transient(gitlab, status):
    gitlab.host.scripted.append(Reply(status, {"message": "upstream down"}))

    with pytest.raises(TransientError, match=f"GitLab GET .*: answered HTTP {status}"):
        get_first(gitlab)


def test_a_rate_limit_is_transient_with_the_wait_the_host_asked_for(gitlab):
    gitlab.host.scripted.append(Reply(429, {"message": "Retry later"}, {"Retry-After": "7"}))

    with pytest.raises(RateLimited) as limited:
        get_first(gitlab)

    assert isinstance(limited.value, TransientError) and limited.value.retry_after == 7.0


def test_a_403_with_no_requests_left_is_a_rate_limit_not_a_refusal(gitlab):
    headers = {"X-RateLimit-Remaining": "0"}
    gitlab.host.scripted.append(Reply(403, {"message": "API rate limit exceeded"}, headers))

    with pytest.raises(RateLimited):
        get_first(gitlab)


def test_a_refusal_is_permanent_with_the_hosts_message(gitlab):
    gitlab.host.scripted.append(Reply(404, {"message": "404 Project Not Found"}))

    with pytest.raises(PermanentError, match="HTTP 404: 404 Project Not Found") as refused:
        get_first(gitlab)

    assert not isinstance(refused.value, TransientError)


def test_a_token_the_host_echoes_is_masked_in_the_error(gitlab):
    gitlab.host.scripted.append(Reply(401, {"message": f"401 Unauthorized: token {TOKEN}"}))

    with pytest.raises(PermanentError) as refused:
        get_first(gitlab)

    assert TOKEN not in str(refused.value) and "token ***" in str(refused.value)


def test_an_unreachable_host_is_transient(gitlab):
    gitlab.host.stop()

    with pytest.raises(TransientError, match="GitLab GET .*ConnectError") as unreachable:
        get_first(gitlab)

    assert TOKEN not in str(unreachable.value)


def test_an_answer_that_is_no_merge_request_is_permanent(gitlab):
    gitlab.host.scripted.append(Reply(200, {"iid": 1}))

    with pytest.raises(PermanentError, match="GitLab answered a pull request Shipline cannot read"):
        get_first(gitlab)
