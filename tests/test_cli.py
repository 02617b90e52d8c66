"""The `shipline` command, run in-process with click's runner against a real Redis."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from services.cli import main
from services.common.bus import queue_name
from services.common.events import ChangeDetected, Source

pytestmark = pytest.mark.integration


def change_event(run_id: str = "manual-1") -> ChangeDetected:
    return ChangeDetected(
        run_id=run_id,
        service="user-service",
        source=Source(repository="acme/microbank", commit="c" * 40, ref="refs/heads/main"),
        context="user_service",
        dockerfile="Dockerfile",
        image_repository="127.0.0.1:5000/microbank/user-service",
        tags=("sha-ccccccc",),
        reason="forced",
    )


@pytest.fixture
def env(redis_url: str, tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.delenv("SHIPLINE_CONFIG", raising=False)
    return {"SHIPLINE_REDIS_URL": redis_url, "SHIPLINE_WORKDIR": str(tmp_path)}


def test_publish_puts_an_event_from_stdin_on_its_stages_queue_and_creates_the_run(
    env, redis_client
):
    event = change_event()

    result = CliRunner().invoke(main, ["publish", "-"], input=event.model_dump_json(), env=env)

    assert result.exit_code == 0, result.output
    assert "published ChangeDetected" in result.output
    [raw] = redis_client.lrange(queue_name("builder"), 0, -1)
    args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
    assert json.loads(args[0])["event_id"] == str(event.event_id)
    run = json.loads(redis_client.hget("shipline:run:manual-1", "expected") or "0")
    assert run == 1


def test_publish_names_the_file_and_the_field_of_an_invalid_event(env, redis_client, tmp_path):
    bad = tmp_path / "event.json"
    bad.write_text('{"type": "ChangeDetected", "run_id": "r1"}')

    result = CliRunner().invoke(main, ["publish", str(bad)], env=env)

    assert result.exit_code != 0
    assert str(bad) in result.output and "service" in result.output
    assert redis_client.llen(queue_name("builder")) == 0


def test_an_invalid_server_config_fails_at_start_naming_file_and_key(tmp_path, monkeypatch):
    config = tmp_path / "server.yaml"
    config.write_text("repositories:\n  - name: acme/x\n    url: file:///x\n")
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))

    result = CliRunner().invoke(main, ["publish", "-"], input="{}")

    assert result.exit_code != 0
    assert str(config) in result.output
    assert "repositories.0.webhook_secret" in result.output
