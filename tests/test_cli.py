"""The `shipline` command, run in-process with click's runner; `publish` goes through a real
API server (uvicorn in a thread) on a real Redis and a real git repository."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.common.bus import queue_name
from services.common.events import BuildRequested, ChangeDetected, Source
from services.common.settings import STAGES
from services.gateway.app import create_app
from tests.api_server import serving
from tests.committer.gitrepos import Repo, monorepo, settings_for

pytestmark = pytest.mark.integration  # git repositories built with the git binary
TOKEN = "cli-publish-token-0123456789abc"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def env(
    shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis, monkeypatch
) -> Iterator[dict[str, str]]:
    monkeypatch.delenv("SHIPLINE_CONFIG", raising=False)
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=[TOKEN])
    with serving(create_app(settings)) as url:
        yield {"SHIPLINE_URL": url, "SHIPLINE_TOKEN": TOKEN}


def build_request(shop: Repo, run_id: str = "manual-1") -> BuildRequested:
    return BuildRequested(
        run_id=run_id, repository=shop.name, ref="refs/heads/main", services=("cart",)
    )


def nothing_queued(client: redis.Redis) -> bool:
    return all(client.llen(queue_name(stage)) == 0 for stage in STAGES)


def test_publish_sends_a_request_from_stdin_through_the_api_and_names_its_run(
    env, shop, redis_client
):
    event = build_request(shop)

    result = CliRunner().invoke(main, ["publish", "-"], input=event.model_dump_json(), env=env)

    assert result.exit_code == 0, result.output
    assert "published BuildRequested" in result.output and "for run manual-1" in result.output
    [raw] = redis_client.lrange(queue_name("detector"), 0, -1)
    args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
    assert json.loads(args[0])["requested_by"] == "api-token-1"
    assert redis_client.hget("shipline:run:manual-1", "trigger") == b"forced"


def test_publish_of_a_stage_outcome_is_refused_with_the_apis_reason(env, shop, redis_client):
    outcome = ChangeDetected(
        run_id="manual-2",
        service="cart",
        source=Source(repository=shop.name, commit="c" * 40, ref="refs/heads/main"),
        context="cart",
        dockerfile="Dockerfile",
        image_repository="evil.example.com/other-team/base-image",
        tags=("latest",),
        reason="forced",
    )

    result = CliRunner().invoke(main, ["publish", "-"], input=outcome.model_dump_json(), env=env)

    assert result.exit_code == 1
    assert "HTTP 422: ChangeDetected cannot be published by hand" in result.output
    assert nothing_queued(redis_client)


def test_publish_names_the_file_and_the_field_of_an_invalid_event(env, redis_client, tmp_path):
    bad = tmp_path / "event.json"
    bad.write_text('{"type": "BuildRequested", "run_id": "r1"}')

    result = CliRunner().invoke(main, ["publish", str(bad)], env=env)

    assert result.exit_code != 0
    assert str(bad) in result.output and "repository" in result.output
    assert nothing_queued(redis_client)


def test_publish_without_a_token_says_so_in_one_line(shop, monkeypatch):
    monkeypatch.delenv("SHIPLINE_TOKEN", raising=False)

    result = CliRunner().invoke(main, ["publish", "-"], input=build_request(shop).model_dump_json())

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: SHIPLINE_TOKEN is not set: give a token from the server's api_tokens "
        "(and SHIPLINE_URL, default http://127.0.0.1:8080)"
    ]


def test_publish_to_an_unreachable_api_says_so_in_one_line(shop):
    env = {"SHIPLINE_URL": "http://127.0.0.1:1", "SHIPLINE_TOKEN": TOKEN}

    result = CliRunner().invoke(
        main, ["publish", "-"], input=build_request(shop).model_dump_json(), env=env
    )

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: cannot reach the Shipline API at http://127.0.0.1:1: ConnectError"
    ]


def test_an_invalid_server_config_fails_at_start_naming_file_and_key(tmp_path, monkeypatch):
    config = tmp_path / "server.yaml"
    config.write_text("repositories:\n  - name: acme/x\n    url: file:///x\n")
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))

    result = CliRunner().invoke(main, ["api"])

    assert result.exit_code != 0
    assert str(config) in result.output
    assert "repositories.0.webhook_secret" in result.output
