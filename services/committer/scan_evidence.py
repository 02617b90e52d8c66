"""A passed scan verdict found again in git, after Redis lost it.

Every deploy or promotion commit the committer writes for an image whose passed verdict its
admission found names that image by digest (`Shipline-Image: <service> <repository>@<digest>`,
messages.py). A promotion takes its image from the source environment's gitops branch: when
Redis has no verdict for the digest, a commit on that branch by the bot identity carrying
exactly that trailer is the evidence that Shipline built, scanned and admitted it.

Trust: whoever can push to the gitops branch can deploy anything already (Argo CD syncs it),
so a commit there is trusted as much as the manifest itself. The source repository, events
and registry tags are not: the lookup reads only the gitops checkout, by exact digest.
"""

from __future__ import annotations

from typing import Protocol

from services.committer.messages import image_grep, image_trailer, scanned_image
from services.common.git import CommitInfo

MATCHES_READ = 20  # commits whose message matched the grep, newest first, that are checked


class Log(Protocol):
    def log(self, path: str, grep: str | None = None, limit: int = 200) -> list[CommitInfo]: ...


class ScanEvidence(Protocol):
    def find(self, service: str, image_repository: str, digest: str) -> str | None:
        """The gitops commit naming the image as scanned and passed, or None."""
        ...


class GitScanEvidence:
    """The evidence on one gitops branch (its checkout, synced by the caller)."""

    def __init__(self, checkout: Log, bot_email: str) -> None:
        self._checkout, self._bot_email = checkout, bot_email.lower()

    def find(self, service: str, image_repository: str, digest: str) -> str | None:
        if scanned_image(image_repository, digest) is None:
            return None  # a form no trailer is written for
        trailer = image_trailer(service, image_repository, digest)
        grep = image_grep(service, image_repository, digest)
        for commit in self._checkout.log(".", grep=grep, limit=MATCHES_READ):
            if commit.author_email.lower() != self._bot_email:
                continue
            if trailer in commit.message.splitlines():
                return commit.sha
        return None
