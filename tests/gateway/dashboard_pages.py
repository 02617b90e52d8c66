"""What the dashboard tests share: a gateway's settings with the shop surveyed, and a page
of the services view signed in with an API token."""

from __future__ import annotations

from pathlib import Path

import redis
from playwright.sync_api import Browser, Page

from services.committer.survey import resurvey
from services.common.service_inventory import InventoryStore
from services.common.settings import Settings
from tests.committer.gitrepos import Repo, settings_for


def surveyed(root: Path, shop: Repo, redis_url: str, client: redis.Redis, token: str) -> Settings:
    """The gateway's settings under `root`, accepting `token`, with `shop` surveyed."""
    settings = settings_for(root, shop, redis_url=redis_url, api_tokens=[token])
    resurvey(settings, InventoryStore(client), shop.name)
    return settings


def signed_in_services(
    browser: Browser, url: str, token: str, problems: list[str] | None = None
) -> Page:
    """A new page on the services view, signed in; its script errors go to `problems`."""
    page = browser.new_page()
    if problems is not None:
        page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{url}/#/services")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    return page
