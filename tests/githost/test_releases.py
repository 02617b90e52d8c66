"""A tag's Release on each git host, created once and updated after: against a loopback
GitHub whose every request and answer is checked against GitHub's published OpenAPI
description (npm @octokit/openapi), and loopback GitLab and Gitea following their docs."""

from __future__ import annotations

import pytest

from services.common.errors import PermanentError, TransientError
from services.common.repository_settings import GitHost
from services.githost.releases import ReleaseDraft, Releases, releases_for
from tests.githost.conftest import TOKEN
from tests.githost.fake_gitea import FakeGitea
from tests.githost.fake_github import FakeGitHub
from tests.githost.fake_gitlab import FakeGitLab
from tests.githost.loopback import Reply

pytestmark = pytest.mark.integration  # npm fetches the description into the devenv state

FIRST = ReleaseDraft(tag="v1.2.0", name="v1.2.0", body="## v1.2.0\n\n- feat: transfers")
AGAIN = FIRST.model_copy(update={"body": FIRST.body + "\n\n## Images\n\n- api"})


def github_releases(github: FakeGitHub) -> Releases:
    return releases_for(GitHost(type="github", api_url=github.host.url, token=TOKEN), "acme/app")


def test_github_creates_the_release_of_a_tag_through_described_requests(github):
    published = github_releases(github).publish(FIRST)

    assert published.created and published.tag == "v1.2.0"
    assert published.url == "https://github.example/acme/app/releases/tag/v1.2.0"
    stored = github.releases.store.releases["v1.2.0"]
    assert (stored.name, stored.body) == ("v1.2.0", FIRST.body)
    assert github.host.operations() == [
        ("GET", "/repos/acme/app/releases/tags/v1.2.0"),
        ("POST", "/repos/acme/app/releases"),
    ]
    assert github.host.exchanges[1].json() == {
        "tag_name": "v1.2.0",
        "name": "v1.2.0",
        "body": FIRST.body,
    }
    assert github.host.violations == []


def test_github_updates_the_release_a_tag_already_has_instead_of_adding_one(github):
    releases = github_releases(github)
    releases.publish(FIRST)

    published = releases.publish(AGAIN)

    assert not published.created
    assert list(github.releases.store.releases) == ["v1.2.0"]
    assert github.releases.store.releases["v1.2.0"].body == AGAIN.body
    release_id = github.releases.store.releases["v1.2.0"].id
    assert github.host.operations()[2:] == [
        ("GET", "/repos/acme/app/releases/tags/v1.2.0"),
        ("PATCH", f"/repos/acme/app/releases/{release_id}"),
    ]
    assert github.host.exchanges[-1].json() == {"name": "v1.2.0", "body": AGAIN.body}
    assert github.host.violations == []


def test_github_release_created_meanwhile_is_found_again_and_updated(github):
    github.releases.store.add("v1.2.0", "v1.2.0", "by hand")
    not_found = github.description.instance("basic-error")
    github.host.scripted.append(Reply(404, not_found))  # the lookup raced the other create

    published = github_releases(github).publish(AGAIN)

    assert not published.created
    assert [m for m, _ in github.host.operations()] == ["GET", "POST", "GET", "PATCH"]
    assert github.host.exchanges[1].status == 422
    assert github.releases.store.releases["v1.2.0"].body == AGAIN.body


def test_a_github_5xx_is_transient_and_names_no_token(github):
    github.host.scripted.append(Reply(502, {"message": "Server Error"}))

    with pytest.raises(TransientError) as raised:
        github_releases(github).publish(FIRST)

    assert "HTTP 502" in str(raised.value) and TOKEN not in str(raised.value)
    assert github.releases.store.releases == {}


def test_a_github_refusal_other_than_a_duplicate_is_permanent(github):
    github.host.scripted += [Reply(404, {"message": "Not Found"}), Reply(403, {"message": "no"})]

    with pytest.raises(PermanentError, match="HTTP 403"):
        github_releases(github).publish(FIRST)


def test_gitlab_creates_the_release_then_updates_it_by_its_tag(gitlab: FakeGitLab):
    host = GitHost(type="gitlab", api_url=gitlab.api_url, token=TOKEN)
    releases = releases_for(host, "acme/platform/app")

    first = releases.publish(FIRST)
    second = releases.publish(AGAIN)

    assert (first.created, second.created) == (True, False)
    assert second.url == "https://gitlab.example/acme/platform/app/-/releases/v1.2.0"
    stored = gitlab.releases.store.releases["v1.2.0"]
    assert (stored.body, stored.edits) == (AGAIN.body, 1)
    project = "/api/v4/projects/acme%2Fplatform%2Fapp/releases"
    assert gitlab.host.operations() == [
        ("GET", f"{project}/v1.2.0"),
        ("POST", project),
        ("GET", f"{project}/v1.2.0"),
        ("PUT", f"{project}/v1.2.0"),
    ]
    assert gitlab.host.exchanges[1].json() == {
        "tag_name": "v1.2.0",
        "name": "v1.2.0",
        "description": FIRST.body,
    }
    assert gitlab.host.exchanges[3].headers["private-token"] == TOKEN


def test_gitea_creates_the_release_then_updates_it_by_its_id(gitea: FakeGitea):
    releases = releases_for(GitHost(type="gitea", api_url=gitea.api_url, token=TOKEN), "acme/app")

    first = releases.publish(FIRST)
    second = releases.publish(AGAIN)

    assert (first.created, second.created) == (True, False)
    assert second.url == "https://gitea.example/acme/app/releases/tag/v1.2.0"
    stored = gitea.releases.store.releases["v1.2.0"]
    assert (list(gitea.releases.store.releases), stored.body) == (["v1.2.0"], AGAIN.body)
    assert gitea.host.operations()[-1] == ("PATCH", f"/api/v1/repos/acme/app/releases/{stored.id}")
    assert gitea.host.exchanges[-1].headers["authorization"] == f"token {TOKEN}"


def test_a_gitea_duplicate_refused_with_no_release_to_find_stays_refused(gitea: FakeGitea):
    gitea.host.scripted += [
        Reply(404, {"message": "not found"}),
        Reply(409, {"message": "Release has already been created for this tag"}),
    ]
    releases = releases_for(GitHost(type="gitea", api_url=gitea.api_url, token=TOKEN), "acme/app")

    with pytest.raises(PermanentError, match="HTTP 409"):
        releases.publish(FIRST)
