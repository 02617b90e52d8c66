"""`shipline status` with `environments:`: a column per environment (the image's tag and its
state), and `-o json` the API's answer with each service's environments; through click's
runner against a real API server on a real Redis and real git repositories, the committer's
view recorded as the committer records it."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from click.testing import CliRunner

from services.cli import main
from services.committer.survey import resurvey
from services.common.logging import configure_logging
from services.common.service_inventory import InventoryStore
from services.gateway.app import create_app
from tests.api_server import serving
from tests.committer.gitrepos import DIGEST, settings_for
from tests.gateway.test_services_environments import Committer, shop_with_environments

TOKEN = "cli-environments-token-0123456789"


def test_status_shows_a_column_per_environment_with_the_tag_and_state_it_runs(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = shop_with_environments(tmp_path / "remotes")
    committer = Committer(shop, settings_for(tmp_path / "c", shop), redis_client)
    commit, staged = committer.deploy_to_staging("cart", "run-stage")
    committer.verified(staged, healthy=True)
    promoted = committer.promote("cart", "run-promote", commit)
    committer.verified(promoted, healthy=None)
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=[TOKEN])
    resurvey(settings, InventoryStore(redis_client), shop.name)
    configure_logging("json")  # the server's logs go to stderr, as under `shipline api`
    env = {"SHIPLINE_TOKEN": TOKEN}

    with serving(create_app(settings)) as url:
        env["SHIPLINE_URL"] = url
        table = CliRunner().invoke(main, ["status"], env=env)
        as_json = CliRunner().invoke(main, ["status", "-o", "json"], env=env)

    assert table.exit_code == 0, table.output
    header, cart, search = table.stdout.splitlines()
    assert header.split()[-2:] == ["STAGING", "PRODUCTION"]
    tag = f"sha-{commit[:7]}"
    assert cart.split()[-4:] == [tag, "healthy", tag, "pending"]  # promoted, not verified yet
    assert search.split()[-4:] == ["initial", "committed", "initial", "committed"]
    assert as_json.exit_code == 0, as_json.output
    rows = {row["service"]: row for row in json.loads(as_json.stdout)["services"]}
    staging, production = rows["cart"]["environments"]
    assert (staging["name"], staging["digest"], staging["source_commit"]) == (
        "staging",
        DIGEST,
        commit,
    )
    assert (production["name"], production["state"]) == ("production", "pending")
