"""The dashboard's "What runs where" table in a real browser (Debian's chromium, Playwright)
on a real gateway, Redis and git: services as rows, environments as columns, each cell the
tag, since when and state, and for a signed-in user a button promoting to the next
environment through POST /api/v1/promotions."""

from __future__ import annotations

from pathlib import Path

import redis
from playwright.sync_api import Browser, expect

from services.common.events import PromotionRequested
from services.gateway.app import create_app
from tests.api_server import serving
from tests.committer.gitrepos import monorepo, settings_for
from tests.gateway.dashboard_pages import signed_in_services, surveyed
from tests.gateway.test_deployments import queued
from tests.gateway.test_services_environments import (
    Committer,
    shop_with_environments,
    staged_and_awaiting_merge,
)

TOKEN = "dashboard-environments-token-0123456789"


def test_each_environment_has_a_cell_per_service_and_staging_can_be_promoted_to_production(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, browser: Browser
) -> None:
    shop = shop_with_environments(tmp_path / "remotes")
    committer = Committer(shop, settings_for(tmp_path / "c", shop), redis_client)
    commit, staged = committer.deploy_to_staging("cart", "run-stage")
    committer.verified(staged, healthy=True)
    settings = surveyed(tmp_path / "api", shop, redis_url, redis_client, TOKEN)
    problems: list[str] = []

    with serving(create_app(settings)) as url:
        page = signed_in_services(browser, url, TOKEN, problems)
        table = page.get_by_role("table", name="What runs where")
        cart = table.locator('tr[data-service="cart"]')
        search = table.locator('tr[data-service="search"]')
        staging = cart.locator('td[data-environment="staging"]')
        production = cart.locator('td[data-environment="production"]')

        expect(table.locator("thead th")).to_have_text(["Service", "staging", "production"])
        expect(staging).to_have_attribute("data-state", "healthy")
        expect(staging.locator(".tag")).to_have_text(f"sha-{commit[:7]}")
        expect(staging).to_contain_text("since just now")
        expect(staging).to_contain_text(f"built from {commit[:7]}")
        expect(production).to_have_attribute("data-state", "committed")
        expect(production.locator(".tag")).to_have_text("initial")
        expect(search.locator('td[data-environment="staging"] button')).to_have_count(0)
        expect(production.locator("button")).to_have_count(0)  # no environment after it
        page.screenshot(path=tmp_path / "what-runs-where.png", full_page=True)

        staging.get_by_role("button", name="Promote cart to production").click()

        expect(staging.get_by_role("status")).to_contain_text("Promotion to production queued")
        [event] = queued(redis_client, "committer")
        expect(production.locator(".incoming")).to_have_text(f"under way: {event.run_id}")
    assert isinstance(event, PromotionRequested)
    assert (event.services, event.environment) == (("cart",), "production")
    assert problems == []


def test_a_promotion_awaiting_its_pull_requests_merge_shows_in_the_cell_it_will_write(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, browser: Browser
) -> None:
    shop, pending = staged_and_awaiting_merge(tmp_path, redis_client)
    settings = surveyed(tmp_path / "api", shop, redis_url, redis_client, TOKEN)
    problems: list[str] = []

    with serving(create_app(settings)) as url:
        page = signed_in_services(browser, url, TOKEN, problems)
        cart = page.get_by_role("table", name="What runs where").locator('tr[data-service="cart"]')
        production = cart.locator('td[data-environment="production"]')

        awaiting = production.locator(".awaiting-merge")
        expect(awaiting).to_have_text("awaiting merge: pull request #17 (run run-pr)")
        expect(awaiting.get_by_role("link", name="pull request #17")).to_have_attribute(
            "href", pending.url
        )
        expect(awaiting.get_by_role("link", name="run-pr")).to_have_attribute(
            "href", "#/runs/run-pr"
        )
        expect(cart.locator('td[data-environment="staging"] .awaiting-merge')).to_have_count(0)
    assert problems == []


def test_without_environments_the_services_page_has_no_environments_table(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, browser: Browser
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"])
    settings = surveyed(tmp_path / "api", shop, redis_url, redis_client, TOKEN)

    with serving(create_app(settings)) as url:
        page = signed_in_services(browser, url, TOKEN)
        expect(page.locator('article[data-service="cart"]')).to_be_visible()
        expect(page.get_by_role("table", name="What runs where")).to_have_count(0)
