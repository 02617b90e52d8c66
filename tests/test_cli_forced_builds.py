"""A forced rebuild from the command line: `shipline publish` of a BuildRequested."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from services.cli import main
from services.common.bus import queue_name
from services.common.events import BuildRequested

pytestmark = pytest.mark.integration


def test_publishing_a_build_request_queues_it_for_the_detector(
    redis_url, redis_client, tmp_path, monkeypatch
):
    monkeypatch.delenv("SHIPLINE_CONFIG", raising=False)
    request = BuildRequested(
        run_id="rebuild-1",
        repository="acme/microbank",
        ref="refs/heads/main",
        services=("user-service",),
    )
    env = {"SHIPLINE_REDIS_URL": redis_url, "SHIPLINE_WORKDIR": str(tmp_path)}

    result = CliRunner().invoke(main, ["publish", "-"], input=request.model_dump_json(), env=env)

    assert result.exit_code == 0, result.output
    [raw] = redis_client.lrange(queue_name("detector"), 0, -1)
    args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
    assert json.loads(args[0])["services"] == ["user-service"]
    assert redis_client.hget("shipline:run:rebuild-1", "trigger") == b"manual"
