"""The Docker engine the builder uses: reachable the way the builder reaches it (the docker
SDK's environment: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), and BuildKit there when
`builder.backend` asks for it (services/builder/docker_engine.py decides it the same way)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.logging import redact_url_credentials
from services.doctor.result import CheckResult, fail, ok, warn

DEFAULT_HOST = "unix:///var/run/docker.sock"
BUILDKIT_API = (1, 39)


@dataclass(frozen=True)
class EngineFacts:
    where: str
    error: str | None = None
    version: dict[str, Any] = field(default_factory=dict)  # GET /version


def probe_engine(timeout: float = 5.0) -> EngineFacts:
    import docker
    import docker.constants
    import docker.errors
    import docker.utils
    import requests

    where = redact_url_credentials(os.environ.get("DOCKER_HOST") or DEFAULT_HOST)
    if where.startswith("unix://") and not Path(where.removeprefix("unix://")).exists():
        return EngineFacts(where, error="no such socket: is the engine running?")
    try:
        # a fixed API version: the client connects on the first request, not while built
        client = docker.APIClient(
            version=docker.constants.MINIMUM_DOCKER_API_VERSION,
            timeout=int(max(1, timeout)),
            **docker.utils.kwargs_from_env(),
        )
    except docker.errors.DockerException as exc:
        return EngineFacts(where, error=_short(exc))
    try:
        return EngineFacts(where, version=dict(client.version(api_version=False)))
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        return EngineFacts(where, error=_short(exc))
    finally:
        client.close()


def judge_engine(facts: EngineFacts, backend: str) -> list[CheckResult]:
    if facts.error is not None:
        fix = "start the Docker engine, or point DOCKER_HOST at it (the builder uses the same)"
        if "permission denied" in facts.error.lower():
            fix = f"give this user access to {facts.where} (e.g. the docker group)"
        return [fail("docker engine", f"{facts.where}: {facts.error}", fix)]
    version = facts.version
    engine = f"Docker {version.get('Version', '?')} (API {version.get('ApiVersion', '?')})"
    results = [ok("docker engine", f"{engine} at {facts.where}")]
    if backend != "buildkit":
        results.append(ok("buildkit", "not used: builder.backend is classic"))
    elif buildkit_missing := _why_no_buildkit(version):
        results.append(
            warn(
                "buildkit",
                f"{buildkit_missing}: builds fall back to the classic builder",
                "use a Linux engine with API 1.39 or later (Docker 18.09+), or set "
                "builder.backend: classic to say so",
            )
        )
    else:
        results.append(ok("buildkit", "the engine builds with BuildKit (builder.backend)"))
    return results


def _why_no_buildkit(version: dict[str, Any]) -> str | None:
    if version.get("Os") != "linux":
        return f"the engine runs on {version.get('Os', 'an unknown OS')}, not linux"
    api = str(version.get("ApiVersion", "0"))
    try:
        numbers = tuple(int(part) for part in api.split(".")[:2])
    except ValueError:
        return f"the engine's API version {api!r} is not recognised"
    if numbers < BUILDKIT_API:
        return f"the engine's API {api} is older than 1.39"
    return None


def _short(exc: BaseException) -> str:
    text = redact_url_credentials(" ".join(str(exc).split()))
    return f"{type(exc).__name__}: {text}"[:300]
