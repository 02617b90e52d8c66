"""The `host:` of a repository or gitops repository entry: which API, where, with which
token (a secret: never shown), and which project the host knows the repository by."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.repository_settings import GitHost, GitopsRepository, Repository
from services.common.settings import Settings
from services.common.stage_secrets import secret_uses
from tests.githost.conftest import TOKEN

HOST = {"type": "gitlab", "api_url": "https://gitlab.example.com/api/v4/", "token": TOKEN}


def test_a_gitops_repository_names_its_hosts_api_and_keeps_the_token_out_of_its_repr():
    entry = GitopsRepository(name="acme/platform/gitops", url="file:///x", host=HOST)

    assert entry.host is not None and entry.host.type == "gitlab"
    assert entry.host.api_url == "https://gitlab.example.com/api/v4"
    assert entry.host.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(entry) and TOKEN not in str(entry.model_dump())


def test_a_repository_without_host_has_none_as_before():
    entry = Repository(name="acme/shop", url="file:///x", webhook_secret="s" * 20)

    assert entry.host is None


def test_the_token_may_come_from_a_file(tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    host = GitHost(type="gitea", api_url="http://gitea:3000/api/v1", token_file=tmp_path / "token")

    assert host.token.get_secret_value() == TOKEN


@pytest.mark.parametrize(
    "api_url",
    [
        "gitlab.example.com/api/v4",
        "ftp://gitlab.example.com",
        "https://bot:pw@gitlab.example.com",
        "",
    ],
)
def test_an_api_url_that_is_no_plain_http_url_is_refused_without_echoing_the_token(api_url):
    with pytest.raises(ValidationError, match="api_url must be an http") as refused:
        GitHost(**{**HOST, "api_url": api_url})

    assert TOKEN not in str(refused.value)


def test_an_unknown_host_type_is_refused():
    with pytest.raises(ValidationError, match="'github', 'gitlab' or 'gitea'"):
        GitHost(**{**HOST, "type": "bitbucket"})


def test_a_host_token_is_a_secret_of_the_processes_that_call_the_host_alone():
    settings = Settings(
        repositories=[
            {"name": "acme/shop", "url": "file:///x", "webhook_secret": "s" * 20, "host": HOST}
        ],
        gitops_repositories=[{"name": "acme/gitops", "url": "file:///y", "host": HOST}],
    )

    uses = {use.key: use.processes for use in secret_uses(settings)}

    source_host = uses["repositories.0.host.token"]
    assert source_host == {"committer", "scanner", "notifier"}  # pull requests; code
    # scanning; the Releases of release tags
    assert not source_host & {"gateway", "detector", "builder", "verifier"}
    assert uses["gitops_repositories.0.host.token"] == {"committer"}
