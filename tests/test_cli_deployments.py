"""`shipline deploy | rollback | unpin` against a real API server (uvicorn in a thread)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.committer.survey import resurvey
from services.common.pins import PinStore
from services.common.service_inventory import InventoryStore
from services.devenv.registry import Registry
from services.gateway.app import create_app
from tests.api_server import serving
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.registry_images import push_image

TOKEN = "cli-api-token-0123456789abc"


@pytest.fixture
def shop(tmp_path: Path, registry: Registry) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"], registry=f"{registry.host}/shop")


@pytest.fixture
def api_url(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Iterator[str]:
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=[TOKEN])
    resurvey(settings, InventoryStore(redis_client), shop.name)  # as the workers do
    with serving(create_app(settings)) as url:
        yield url


def run(api_url: str, *args: str, token: str | None = TOKEN) -> tuple[int, str]:
    env = {"SHIPLINE_URL": api_url, "SHIPLINE_TOKEN": token or ""}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_deploy_names_the_image_and_starts_a_run(api_url: str, registry: Registry) -> None:
    push_image(registry, "shop/cart", "v3", {})

    code, output = run(api_url, "deploy", "cart", "v3")

    assert code == 0, output
    assert f"deploying {registry.host}/shop/cart:v3" in output
    assert "run " in output and " started" in output


def test_deploy_of_an_unknown_service_fails_with_the_apis_reason(api_url: str) -> None:
    code, output = run(api_url, "deploy", "nope", "v3")

    assert code != 0
    assert "HTTP 404" in output and "service nope is not in" in output


def test_without_a_token_the_cli_says_to_set_one_and_never_prints_it(api_url: str) -> None:
    code, output = run(api_url, "rollback", "cart", token=None)
    _, wrong = run(api_url, "rollback", "cart", token="not-the-token")

    assert code != 0 and "HTTP 401" in output and "SHIPLINE_TOKEN" in output
    assert "not-the-token" not in wrong


def test_rollback_then_unpin(api_url: str, shop: Repo, redis_client: redis.Redis) -> None:
    code, output = run(api_url, "rollback", "cart")
    assert code == 0, output
    assert "automatic deploys are held until `shipline unpin cart`" in output

    PinStore(redis_client).pin(shop.name, "cart", "reg/cart:v1", "api-token-1", "run-x")
    code, output = run(api_url, "unpin", "cart")
    assert code == 0, output
    assert "cart unpinned (was reg/cart:v1)" in output
    assert re.search(r"^run \S+ started$", output, re.MULTILINE), output  # the unpin commit's
    assert "cart was not pinned" in run(api_url, "unpin", "cart")[1]


def test_an_unreachable_api_is_a_clear_error() -> None:
    code, output = run("http://127.0.0.1:9", "unpin", "cart")

    assert code != 0 and "cannot reach the Shipline API at http://127.0.0.1:9" in output
