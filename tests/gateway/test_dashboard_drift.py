"""The dashboard's services view in a real browser (Debian's chromium, Playwright) on a
real gateway, Redis and git: a service behind its default branch says so on its card, as
`shipline status` does."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from playwright.sync_api import Browser, expect

from services.common.runs import RunStore
from services.detector.attempts import SentBuilds
from services.gateway.app import create_app
from services.reconciler.converge_state import ConvergeState, RetryState
from tests.api_server import serving
from tests.committer.gitrepos import monorepo
from tests.gateway.dashboard_pages import signed_in_services, surveyed
from tests.gateway.runs_data import build_failed, started_run

TOKEN = "dashboard-drift-token-0123456789"


def test_a_service_behind_shows_its_drift_its_failed_build_and_its_retry_on_its_card(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, browser: Browser
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments"])
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    trailers = "\n".join(f"Shipline-Deployed: {s} {shop.name}@{base}" for s in ("cart", "payments"))
    shop.commit({}, f"chore: deploy [skip ci]\n\n{trailers}\n")
    shop.commit({"cart/app.txt": "cart 2\n"}, "feat(cart): two")
    runs = RunStore(redis_client)
    started_run(runs, "run-5", ["cart"])
    build_failed(runs, "run-5", "cart")
    SentBuilds(redis_client).record(shop.name, "refs/heads/main", ["cart"], "run-5")
    retry = RetryState(run_id="run-5", retry_at=time.time() + 600)
    ConvergeState(redis_client).put(shop.name, "cart", retry)
    settings = surveyed(tmp_path / "api", shop, redis_url, redis_client, TOKEN)
    problems: list[str] = []

    with serving(create_app(settings)) as url:
        page = signed_in_services(browser, url, TOKEN, problems)
        cart = page.locator('article[data-service="cart"]')
        payments = page.locator('article[data-service="payments"]')

        expect(cart.locator("[data-drift]")).to_have_attribute("data-drift", "behind")
        expect(cart.locator("[data-drift]")).to_contain_text(
            f"behind by 1 commit since {base[:7]}; last attempt failed: "
            "builder: PermanentError: docker build failed: exit 1; retrying in "
        )
        expect(cart.locator(".badge-behind")).to_have_text("behind")
        expect(payments.locator("[data-drift]")).to_have_text(f"in sync at {base[:7]}")
        page.screenshot(path=tmp_path / "services-drift.png", full_page=True)

    assert problems == []
