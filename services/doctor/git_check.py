"""Git remotes with their configured credentials (services/common/git_auth.py): a repository
can be read (`git ls-remote` of its default branch: what a clone needs), a gitops repository
can be pushed to.

The push check pushes the branch's current head to itself (`git push --dry-run`, from an
empty repository: no object is needed for a ref that does not move). Git hosts authorize the
push service before they advertise refs (GitHub, GitLab and Gitea, over ssh and https), so
read-only credentials fail here. Its limits: nothing is sent, so branch protection rules and
server-side hooks (pre-receive) are not exercised; a `file://` remote is opened, not written
(its directories are checked writable by this user instead, which root always is).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import git

from services.common.logging import redact_url_credentials
from services.doctor.result import CheckResult, fail, ok

_REFUSED = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "permission denied",
    "access denied",
    "returned error: 401",
    "returned error: 403",
    "not authorized",
    "unauthorized",
    "forbidden",
    "write access",
)
_MISSING = (
    "not found",
    "does not appear to be a git repository",
    "does not exist",
    "returned error: 404",
)
_ADVICE = ("Please make sure you have the correct access rights", "and the repository exists")
_UNREACHABLE = (
    "could not resolve",
    "connection refused",
    "timed out",
    "unable to access",
    "network is unreachable",
    "no route to host",
    "failed to connect",
)


@dataclass(frozen=True)
class RemoteFacts:
    url: str  # without credentials
    branch: str | None  # as asked, or the one HEAD names
    read_error: str | None = None  # ls-remote failed: git's last words
    head: str | None = None  # the branch's commit; None when the branch does not exist
    push_error: str | None = None  # the dry-run push failed
    local_writable: bool | None = None  # file:// remotes: may this user write it?


# --- adapter -------------------------------------------------------------------------------


def probe_remote(
    url: str,
    branch: str | None,
    env: Mapping[str, str],
    *,
    push: bool = False,
    timeout: float = 20.0,
) -> RemoteFacts:
    """Read `branch` (None: the branch HEAD names) and, with `push`, dry-run a push to it."""
    shown = redact_url_credentials(url)
    with tempfile.TemporaryDirectory(prefix="shipline-doctor-") as directory:
        runner = git.Git(directory)
        pattern = f"refs/heads/{branch}" if branch else "HEAD"
        status, out, err = _git(
            runner, ["ls-remote", "--symref", "--end-of-options", url, pattern], env, timeout
        )
        if status != 0:
            return RemoteFacts(shown, branch, read_error=_last_words(err, url))
        head, branch = _head(out, pattern, branch)
        if not push or head is None or branch is None:
            return RemoteFacts(shown, branch, head=head)
        _git(runner, ["init", "--quiet", "--bare", "."], env, timeout)
        ref = f"refs/heads/{branch}"
        status, _, err = _git(
            runner, ["push", "--dry-run", "--porcelain", url, f"{head}:{ref}"], env, timeout
        )
        push_error = _last_words(err, url) if status != 0 else None
        return RemoteFacts(
            shown, branch, head=head, push_error=push_error, local_writable=_writable(url)
        )


def _head(listing: str, pattern: str, branch: str | None) -> tuple[str | None, str | None]:
    """(the commit, the branch) of `git ls-remote --symref` output for one pattern."""
    head = None
    for line in listing.splitlines():
        target, _, name = line.partition("\t")
        if name != pattern:
            continue
        if target.startswith("ref: refs/heads/"):
            branch = branch or target.removeprefix("ref: refs/heads/")
        else:
            head = target
    return head, branch


def _git(
    runner: git.Git, args: list[str], env: Mapping[str, str], timeout: float
) -> tuple[int, str, str]:
    status, out, err = runner.execute(
        ["git", *args],
        env=dict(env),
        with_extended_output=True,
        with_exceptions=False,
        kill_after_timeout=timeout,
    )
    return int(status or 0), str(out), str(err)


def _last_words(stderr: str, url: str) -> str:
    """git's last two lines that say something (not its "make sure you have the correct
    access rights" advice, printed for a missing repository and a refused key alike)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(_ADVICE)]
    text = " | ".join(lines[-2:]) or "git failed without a message"
    return redact_url_credentials(text.replace(url, redact_url_credentials(url)))[:300]


def _writable(url: str) -> bool | None:
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif not parts.scheme and url.startswith("/"):
        path = Path(url)
    else:
        return None
    return all(os.access(path / part, os.W_OK) for part in ("objects", "refs"))


# --- what the facts mean -----------------------------------------------------------------


def judge_read(name: str, facts: RemoteFacts, key: str) -> CheckResult:
    """`key`: where the remote is configured, e.g. "repositories[acme/shop]"."""
    if facts.read_error is not None:
        return fail(
            name, f"cannot read {facts.url}: {facts.read_error}", _fix(facts.read_error, key)
        )
    if facts.head is None:
        branch = facts.branch or "HEAD"
        return fail(
            name,
            f"{facts.url} has no branch {branch}",
            f"push the branch, or name the right one ({key}.default_branch, or gitops.branch "
            "in shipline.yaml)",
        )
    return ok(name, f"{facts.url} readable; {facts.branch} at {facts.head[:7]}")


def judge_push(name: str, facts: RemoteFacts, key: str) -> CheckResult:
    read = judge_read(name, facts, key)
    if read.status != "ok":
        return read
    if facts.push_error is not None:
        return fail(
            name,
            f"push to {facts.url} refused: {facts.push_error}",
            f"give {key}.credentials write access to the repository",
        )
    if facts.local_writable is False:
        return fail(
            name,
            f"{facts.url} is not writable by this user",
            "run Shipline as a user that may write the repository's directory",
        )
    return ok(name, f"push to {facts.branch} of {facts.url} allowed (dry run: hooks not run)")


def _fix(error: str, key: str) -> str:
    lowered = error.lower()
    if any(word in lowered for word in _REFUSED):
        return f"check {key}.credentials (a token or ssh key with access to this repository)"
    if any(word in lowered for word in _UNREACHABLE):
        return f"check {key}.url's host and this machine's network path to it"
    if any(word in lowered for word in _MISSING):
        return f"check {key}.url (a private repository also looks missing to wrong credentials)"
    return f"check {key}.url and {key}.credentials"
