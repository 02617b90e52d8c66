"""`shipline up` runs the fast checks at start: one log line per problem, with what to do,
no secret; the API comes up regardless."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import redis
import yaml

from services.devenv.registry import Registry
from tests.conftest import AUTH_USERNAME
from tests.stack import shipline_up

WRONG_PASSWORD = "not-the-registry-password-0123"


def test_shipline_up_logs_a_line_per_problem_and_serves(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    docker_host: str,
    auth_registry: Registry,
    trivy_path: Path,
) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "redis_url": redis_url,
                "workdir": str(tmp_path / "state"),
                "log_format": "json",
                "registry_auth": {
                    auth_registry.host: {"username": AUTH_USERNAME, "password": WRONG_PASSWORD}
                },
                "scanner": {
                    "trivy_path": str(trivy_path),
                    "scanners": ["vuln", "secret"],
                    "cache_dir": str(tmp_path / "no-db"),
                },
            }
        )
    )
    log_path = tmp_path / "shipline.log"

    with shipline_up(config, docker_host, log_path) as up:
        assert httpx.get(f"{up.api}/readyz", timeout=5).status_code == 200
    log = log_path.read_text()

    checks = {}
    for text in log.splitlines():
        if text.startswith("{") and '"start-up check' in text:
            entry = json.loads(text)
            checks[entry["check"]] = entry
    assert set(checks) == {f"registry {auth_registry.host}", "trivy db"}
    registry = checks[f"registry {auth_registry.host}"]
    assert registry["status"] == "fail"
    assert "refused the credentials (HTTP 401)" in registry["event"]
    assert registry["fix"].startswith("check the username and password of registry_auth")
    assert "no vulnerability DB" in checks["trivy db"]["event"]
    assert "--download-db-only" in checks["trivy db"]["fix"]
    assert WRONG_PASSWORD not in log
    assert redis_url.split("@")[0].split(":")[-1] not in log  # Redis's password
