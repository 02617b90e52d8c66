"""The `PullRequests` of a configured repository, by its `host:` setting."""

from __future__ import annotations

from services.common.repository_settings import GitHost
from services.githost.gitea import GiteaPullRequests
from services.githost.github import API_VERSION, MEDIA_TYPE, GitHubPullRequests
from services.githost.gitlab import GitLabMergeRequests
from services.githost.http import TIMEOUT_SECONDS, HostApi
from services.githost.pull_requests import PullRequests

HOST_NAMES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}


def host_api(host: GitHost, timeout: float = TIMEOUT_SECONDS) -> HostApi:
    """The host's API with its token in the header that host reads."""
    token = host.token.get_secret_value()
    name = HOST_NAMES[host.type]
    if host.type == "github":
        headers = {"Accept": MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION}
        auth = ("Authorization", "Bearer ")
        return HostApi(
            name, host.api_url, token, auth_header=auth, headers=headers, timeout=timeout
        )
    auth = ("PRIVATE-TOKEN", "") if host.type == "gitlab" else ("Authorization", "token ")
    return HostApi(name, host.api_url, token, auth_header=auth, timeout=timeout)


def pull_requests_for(host: GitHost, repository: str) -> PullRequests:
    """`repository` is the settings entry's name: the host's project unless `host.project`."""
    project = host.project or repository
    api = host_api(host)
    if host.type == "github":
        return GitHubPullRequests(api, project)
    if host.type == "gitlab":
        return GitLabMergeRequests(api, project)
    return GiteaPullRequests(api, project)
