"""The `PullRequests` of a configured repository, by its `host:` setting."""

from __future__ import annotations

from services.common.repository_settings import GitHost
from services.githost.gitea import GiteaPullRequests
from services.githost.github import API_VERSION, MEDIA_TYPE, GitHubPullRequests
from services.githost.gitlab import GitLabMergeRequests
from services.githost.http import HostApi
from services.githost.pull_requests import PullRequests


def pull_requests_for(host: GitHost, repository: str) -> PullRequests:
    """`repository` is the settings entry's name: the host's project unless `host.project`."""
    project = host.project or repository
    token = host.token.get_secret_value()
    if host.type == "github":
        headers = {"Accept": MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION}
        auth = ("Authorization", "Bearer ")
        api = HostApi("GitHub", host.api_url, token, auth_header=auth, headers=headers)
        return GitHubPullRequests(api, project)
    if host.type == "gitlab":
        auth = ("PRIVATE-TOKEN", "")
        api = HostApi("GitLab", host.api_url, token, auth_header=auth)
        return GitLabMergeRequests(api, project)
    auth = ("Authorization", "token ")
    api = HostApi("Gitea", host.api_url, token, auth_header=auth)
    return GiteaPullRequests(api, project)
