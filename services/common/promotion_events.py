"""The events of promotion to a later environment: the request (by hand, or the notifier's
automatic one), and the pull request a promotion waits on where an environment is written by
pull request (services/committer/promote.py, pull_request_writeback.py). Re-exported by
services/common/events.py, whose `AnyEvent` decodes them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.event_base import Envelope, ServiceName


class PromotionRequested(Envelope):
    """An operator moves services to a later environment: the committer writes, into the
    target's manifests, the image the source environment (the target's `from`) runs, read
    from the gitops head. Never an image here: what is promoted is what git says."""

    type: Literal["PromotionRequested"] = "PromotionRequested"
    repository: str
    services: tuple[ServiceName, ...] = Field(min_length=1, max_length=500)
    environment: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # the target
    requested_by: str = ""
    reason: str = Field(default="", max_length=500)


class PullRequestOpened(Envelope):
    """A promotion to an environment that writes by pull request: its commit is on `branch`,
    in the open pull request `number`; the service awaits its merge (ManifestCommitted then)."""

    type: Literal["PullRequestOpened"] = "PullRequestOpened"
    service: ServiceName
    environment: str
    gitops_repository: str
    number: int
    url: str
    branch: str  # the pull request's head branch, e.g. shipline/promote-production
    commit: str  # the promotion's commit on it


class PullRequestClosed(Envelope):
    """A promotion's pull request was merged (the committer answers with ManifestCommitted)
    or closed unmerged (DeploymentSkipped `rejected`), as a webhook or the host said."""

    type: Literal["PullRequestClosed"] = "PullRequestClosed"
    gitops_repository: str
    number: int
    merged: bool
    merge_commit_sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    via: Literal["webhook", "host"] = "webhook"
