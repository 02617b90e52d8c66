"""Each registry: `/v2/` answers, the configured credentials are accepted (or anonymous access
works when none are configured), and pushes are allowed to the image repositories Shipline
pushes to: a blob upload session is opened (POST /v2/<repo>/blobs/uploads/) and cancelled at
once (DELETE), so nothing is written. Authentication is the builder's
(services/builder/registry.py): the same token dance, credentials only to the registry's host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from services.builder.registry import RegistryClient
from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import RegistryLogin
from services.doctor.result import CheckResult, fail, ok, warn

INSECURE_FIX = "builder.insecure_registries lists a registry spoken to over plain HTTP"


@dataclass(frozen=True)
class RegistryTarget:
    """A registry host, and the image repositories (paths on it) Shipline pushes to there."""

    host: str
    repositories: tuple[str, ...] = ()
    login: RegistryLogin | None = None


@dataclass(frozen=True)
class RegistryFacts:
    host: str
    has_login: bool
    unreachable: str | None = None  # no HTTP answer (connection, TLS, timeout)
    refused: str | None = None  # the token service refused the credentials
    base_status: int | None = None  # GET /v2/
    push: dict[str, int | str] = field(default_factory=dict)  # repository → status or error


# --- adapter -------------------------------------------------------------------------------


def probe_registry(
    target: RegistryTarget,
    *,
    insecure_hosts: Sequence[str] = (),
    push: bool = True,
    timeout: float = 5.0,
) -> RegistryFacts:
    facts = RegistryFacts(target.host, target.login is not None)
    # a bearer token is issued per repository: ask /v2/ with a repository Shipline uses
    some_repository = target.repositories[0] if target.repositories else "shipline-doctor"
    with RegistryClient(
        target.host, target.login, insecure_hosts=insecure_hosts, timeout=timeout
    ) as client:
        try:
            status = client.request("GET", some_repository, "/v2/", "pull").status_code
        except TransientError as exc:
            return RegistryFacts(target.host, facts.has_login, unreachable=str(exc))
        except PermanentError as exc:
            return RegistryFacts(target.host, facts.has_login, refused=str(exc))
        results: dict[str, int | str] = {}
        if push and status == 200:
            for repository in target.repositories:
                results[repository] = _try_push(client, repository)
    return RegistryFacts(target.host, facts.has_login, base_status=status, push=results)


def _try_push(client: RegistryClient, repository: str) -> int | str:
    """Open a blob upload session and cancel it: the status of the POST (202: allowed)."""
    path = f"/v2/{repository}/blobs/uploads/"
    try:
        answer = client.request("POST", repository, path, "pull,push")
        location = answer.headers.get("location", "")
        # a token never goes to another host
        if answer.status_code == 202 and location and _same_host(location, client.host):
            client.request("DELETE", repository, location, "pull,push")
        return answer.status_code
    except (TransientError, PermanentError) as exc:
        return str(exc)


def _same_host(location: str, host: str) -> bool:
    try:
        upload = httpx.URL(location)
    except httpx.InvalidURL:
        return False
    if not upload.is_absolute_url:
        return True
    where = f"{upload.host}:{upload.port}" if upload.port else upload.host
    return where.lower() == host.lower()


# --- what the facts mean -----------------------------------------------------------------


def judge_registry(facts: RegistryFacts, repositories: Sequence[str] = ()) -> list[CheckResult]:
    name = f"registry {facts.host}"
    auth_fix = f"check the username and password of registry_auth['{facts.host}']"
    if facts.unreachable is not None:
        return [
            fail(
                name,
                facts.unreachable,
                f"check the host and port, that it serves HTTPS (or {INSECURE_FIX}) and its CA",
            )
        ]
    if facts.refused is not None:
        return [fail(name, facts.refused, auth_fix)]
    status = facts.base_status
    if status in (401, 403):
        if facts.has_login:
            return [fail(name, f"refused the credentials (HTTP {status})", auth_fix)]
        return [
            fail(
                name,
                f"requires credentials (HTTP {status}); none are configured",
                f"add registry_auth: {{'{facts.host}': {{username: ..., password: ...}}}}",
            )
        ]
    if status != 200:
        return [
            fail(
                name,
                f"GET /v2/ answered HTTP {status}: not a registry API (distribution v2)",
                "name the registry host[:port] itself in shipline.yaml and the settings",
            )
        ]
    how = "credentials accepted" if facts.has_login else "anonymous access (no registry_auth)"
    results = [ok(name, f"reachable, {how}")]
    if repositories:
        results.append(_judge_push(name, facts, repositories))
    return results


def _judge_push(name: str, facts: RegistryFacts, repositories: Sequence[str]) -> CheckResult:
    refused = {repo: facts.push.get(repo, "not tried") for repo in repositories}
    refused = {repo: answer for repo, answer in refused.items() if answer != 202}
    if not refused:
        shown = ", ".join(repositories[:3]) + (" ..." if len(repositories) > 3 else "")
        return ok(f"{name} push", f"push allowed to {len(repositories)} repositories ({shown})")
    repo, answer = next(iter(refused.items()))
    more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
    if answer in (401, 403):
        detail = f"push to {repo} refused (HTTP {answer}){more}"
        fix = (
            f"give the user of registry_auth['{facts.host}'] push rights there"
            if facts.has_login
            else f"add registry_auth for {facts.host} with a user that may push"
        )
        return fail(f"{name} push", detail, fix)
    if answer == 404:
        return fail(
            f"{name} push",
            f"repository {repo} does not exist (HTTP 404){more}",
            "create it in the registry first (some registries, e.g. ECR, do not on push)",
        )
    detail = f"push to {repo} not confirmed: {answer}{more}"
    return warn(f"{name} push", detail, "look at the registry's log for the upload request")
