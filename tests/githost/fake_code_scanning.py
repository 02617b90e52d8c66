"""What the loopback hosts keep of the scans Shipline reports: GitHub's code-scanning uploads
(its answers made from the published description, as fake_github.py's), and GitLab's and
Gitea's commit statuses (shapes from their REST documentation: GitLab's "Set the pipeline
status of a commit", `POST /projects/:id/statuses/:sha`; Gitea's "Create a commit status",
`POST /repos/{owner}/{repo}/statuses/{sha}`; neither checked against a description, see
fake_gitlab.py and fake_gitea.py)."""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass
from typing import Any

from tests.githost.described import Description
from tests.githost.loopback import REPO, Handler, Reply

SHA = r"(?P<sha>[0-9a-f]{40})"
GITLAB_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
GITEA_STATES = ("pending", "success", "error", "failure", "warning")


@dataclass(frozen=True)
class Upload:
    owner_repo: str
    commit_sha: str
    ref: str
    tool_name: str | None
    sarif: dict[str, Any]  # decoded: base64, then gunzip, then JSON


class GitHubCodeScanning:
    """Uploads kept; each upload's processing answered `pending` for its first
    `pending_answers` status requests, then `processed` (complete, or `failed` with
    `errors`); an id it never gave is a 404, as GitHub's description says."""

    def __init__(self, description: Description) -> None:
        self.description = description
        self.uploads: list[Upload] = []
        self.pending_answers = 0
        self.processed = "complete"
        self.errors: list[str] = []
        self.asked: dict[str, int] = {}  # status requests, by SARIF id

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", REPO + r"/code-scanning/sarifs", self._upload),
            ("GET", REPO + r"/code-scanning/sarifs/(?P<id>[^/]+)", self._status),
        ]

    def _upload(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        try:
            sarif = json.loads(gzip.decompress(base64.b64decode(body["sarif"], validate=True)))
        except (ValueError, OSError, EOFError):  # not base64, not gzip, not JSON
            return Reply(400, {"message": "Invalid SARIF: not a gzipped, base64-encoded file"})
        repo = f"{match['owner']}/{match['repo']}"
        upload = Upload(repo, body["commit_sha"], body["ref"], body.get("tool_name"), sarif)
        self.uploads.append(upload)
        sarif_id = self._id(len(self.uploads))
        receipt = self.description.instance("code-scanning-sarifs-receipt")
        receipt.update(id=sarif_id, url=f"{self._base(match)}/code-scanning/sarifs/{sarif_id}")
        return Reply(202, receipt)

    def _status(self, match: re.Match[str], _: dict[str, str], __: Any) -> Reply:
        sarif_id = match["id"]
        if sarif_id not in self._ids():
            return Reply(404, {"message": "Not Found"})
        self.asked[sarif_id] = self.asked.get(sarif_id, 0) + 1
        status = self.description.instance("code-scanning-sarifs-status")
        if self.asked[sarif_id] <= self.pending_answers:
            status.update(processing_status="pending")
        elif self.processed == "failed":
            status.update(processing_status="failed", errors=self.errors)
        else:
            analyses = f"{self._base(match)}/code-scanning/analyses?sarif_id={sarif_id}"
            status.update(processing_status="complete", analyses_url=analyses)
        return Reply(200, status)

    def _ids(self) -> set[str]:
        return {self._id(number) for number in range(1, len(self.uploads) + 1)}

    @staticmethod
    def _id(number: int) -> str:
        return f"6c81cd8e-b078-4ac3-a3be-{number:012d}"

    def _base(self, match: re.Match[str]) -> str:
        return f"https://api.github.example/repos/{match['owner']}/{match['repo']}"


class CommitStatuses:
    """GitLab's (`name`, `ref`) or Gitea's (`context`) commit statuses, by commit."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.statuses: dict[str, list[dict[str, Any]]] = {}

    def routes(self) -> list[tuple[str, str, Handler]]:
        if self.host == "gitlab":
            return [("POST", r"/projects/(?P<project>[^/]+)/statuses/" + SHA, self._gitlab)]
        return [("POST", REPO + r"/statuses/" + SHA, self._gitea)]

    def _gitlab(self, match: re.Match[str], query: dict[str, str], body: Any) -> Reply:
        status = {**query, **(body or {})}  # GitLab reads these as query or form fields too
        if status.get("state") not in GITLAB_STATES:
            return Reply(400, {"error": "state does not have a valid value"})
        answer = {
            "id": self._kept(match["sha"], status),
            "sha": match["sha"],
            "ref": status.get("ref"),
            "status": status["state"],
            "name": status.get("name") or status.get("context") or "default",
            "target_url": status.get("target_url"),
            "description": status.get("description"),
            "created_at": "2026-01-01T00:00:00.000Z",
            "allow_failure": False,
        }
        return Reply(201, answer)

    def _gitea(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        if body.get("state") not in GITEA_STATES:
            return Reply(422, {"message": "[State]: Required"})
        answer = {
            "id": self._kept(match["sha"], body),
            "status": body["state"],
            "context": body.get("context", ""),
            "target_url": body.get("target_url", ""),
            "description": body.get("description", ""),
            "created_at": "2026-01-01T00:00:00Z",
        }
        return Reply(201, answer)

    def _kept(self, sha: str, status: dict[str, Any]) -> int:
        """Keep `status` among the commit's; its id there (the hosts number them from 1)."""
        self.statuses.setdefault(sha, []).append(status)
        return len(self.statuses[sha])
