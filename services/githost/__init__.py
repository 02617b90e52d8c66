"""Pull requests on git hosts (GitHub, GitLab, Gitea) through their REST APIs.

`pull_requests_for(host, repository)` gives the `PullRequests` of one repository; the
committer opens, updates and closes them and reads their state (docs/git-hosts.md).
"""

from services.githost.hosts import pull_requests_for
from services.githost.pull_requests import (
    PullRequest,
    PullRequestDraft,
    PullRequests,
    PullRequestState,
)

__all__ = [
    "PullRequest",
    "PullRequestDraft",
    "PullRequestState",
    "PullRequests",
    "pull_requests_for",
]
