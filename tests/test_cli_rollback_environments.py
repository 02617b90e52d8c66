"""`shipline rollback | unpin -e ENV` against a real API server (uvicorn in a thread), on a
real Redis: the environment reaches the committer's queue, the answer names it, and one the
repository does not have is refused with the API's reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.committer.survey import resurvey
from services.common.environment_view import EnvironmentsStore, EnvironmentsView, EnvironmentView
from services.common.events import RollbackRequested
from services.common.pins import Pin, PinStore
from services.common.service_inventory import InventoryStore
from services.gateway.app import create_app
from tests.api_server import serving
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.gateway.test_deployments import queued

TOKEN = "cli-rollback-env-token-0123456789"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def api_url(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Iterator[str]:
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=[TOKEN])
    resurvey(settings, InventoryStore(redis_client), shop.name)  # as the workers do
    environments = (
        EnvironmentView(name="staging"),
        EnvironmentView(name="production", source="staging"),
    )
    EnvironmentsStore(redis_client).record(
        EnvironmentsView(repository=shop.name, commit="c" * 40, environments=environments)
    )
    with serving(create_app(settings)) as url:
        yield url


def run(api_url: str, *args: str) -> tuple[int, str]:
    env = {"SHIPLINE_URL": api_url, "SHIPLINE_TOKEN": TOKEN}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_a_rollback_in_production_says_so_and_its_unpin_removes_productions_pin_only(
    api_url: str, shop: Repo, redis_client: redis.Redis
) -> None:
    code, output = run(api_url, "rollback", "cart", "-e", "production")

    assert code == 0, output
    assert (
        "cart is pinned in production: automatic deploys are held until "
        "`shipline unpin cart -e production`"
    ) in output
    [event] = queued(redis_client, "committer")
    assert isinstance(event, RollbackRequested) and event.environment == "production"

    store = PinStore(redis_client)
    store.put(Pin(shop.name, "cart", "reg/cart:v1", "ops", "run-1", 1.0))
    store.put(Pin(shop.name, "cart", "reg/cart:v0", "ops", "run-2", 2.0, "production"))
    code, output = run(api_url, "unpin", "cart", "--environment", "production")
    assert code == 0, output
    assert "cart unpinned in production (was reg/cart:v0)" in output
    assert store.get(shop.name, "cart") is not None  # staging's pin stays


def test_a_rollback_in_an_environment_the_repository_has_not_is_refused(api_url: str) -> None:
    code, output = run(api_url, "rollback", "cart", "-e", "qa")

    assert code != 0
    assert "HTTP 422" in output and "no environment 'qa'" in output
