"""A forced rebuild from the command line: `shipline publish` of a BuildRequested, through a
real API server (uvicorn in a thread) on a real Redis and a real git repository."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.common.bus import queue_name
from services.common.events import BuildRequested
from services.gateway.app import create_app
from tests.api_server import serving
from tests.committer.gitrepos import monorepo, settings_for

TOKEN = "cli-forced-build-token-0123456789"


def test_publishing_a_build_request_queues_it_for_the_detector(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPLINE_CONFIG", raising=False)
    shop = monorepo(tmp_path / "remotes", ["user-service"], name="acme/microbank")
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=[TOKEN])
    request = BuildRequested(
        run_id="rebuild-1",
        repository="acme/microbank",
        ref="refs/heads/main",
        services=("user-service",),
    )

    with serving(create_app(settings)) as url:
        env = {"SHIPLINE_URL": url, "SHIPLINE_TOKEN": TOKEN}
        result = CliRunner().invoke(
            main, ["publish", "-"], input=request.model_dump_json(), env=env
        )

    assert result.exit_code == 0, result.output
    [raw] = redis_client.lrange(queue_name("detector"), 0, -1)
    args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
    assert json.loads(args[0])["services"] == ["user-service"]
    assert redis_client.hget("shipline:run:rebuild-1", "trigger") == b"forced"
