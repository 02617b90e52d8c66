"""The dashboard in a real browser (Debian's chromium driven by Playwright) on a running
Shipline: a push shows up and turns green live, and a rollback goes through to git."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.stack import API_TOKEN, Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PIPELINE_TIMEOUT_MS = 240_000
# Records, per run, each status its row in the runs table showed, in order.
SEEN_STATUSES_RECORDER = """
window.seenStatuses = {};
const record = () => {
  for (const row of document.querySelectorAll("tr[data-run-id]")) {
    const seen = (window.seenStatuses[row.dataset.runId] ??= []);
    if (seen.at(-1) !== row.dataset.status) seen.push(row.dataset.status);
  }
};
new MutationObserver(record).observe(document.body, { subtree: true, childList: true });
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (bash deploy/dev/bootstrap.sh)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(stack: Stack, browser: Browser) -> Iterator[Page]:
    """A fresh tab; fails the test on any script error or policy (CSP) violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))

    def on_console(message: ConsoleMessage) -> None:
        # a 404 the page expects (e.g. no build log) is logged as a failed load: not a bug
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console: {message.text}")

    tab.on("console", on_console)
    yield tab
    context.close()
    assert problems == []


def test_a_push_appears_on_the_dashboard_and_turns_green_without_a_reload(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"{stack.api}/#/runs")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "signed-out")
    expect(page.locator("[data-sign-in-needed]")).to_contain_text("Reading needs an API token")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    page.evaluate("window.sameDocument = true")  # gone if the page ever reloads
    page.evaluate(SEEN_STATUSES_RECORDER)

    push = stack.sample.append(
        "user_service/app.txt", "Shown live.", "feat(user): watched from the dashboard"
    )
    run_id = stack.push_webhook(push).json()["run_id"]

    row = page.locator(f'tr[data-run-id="{run_id}"]')
    expect(row).to_be_visible(timeout=30_000)
    expect(row).to_contain_text("feat(user): watched from the dashboard")
    expect(row).to_contain_text("push")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=PIPELINE_TIMEOUT_MS)
    expect(row.locator(".badge")).to_have_class("badge tone-good")
    assert page.evaluate("window.sameDocument") is True
    seen = page.evaluate(f"window.seenStatuses[{run_id!r}]")
    assert seen[-1] == "succeeded" and len(seen) > 1, seen  # it changed in front of us
    expect(page.locator("#announcer")).to_have_text(f"Run {run_id} succeeded")
    page.screenshot(path=tmp_path / "runs.png", full_page=True)

    page.get_by_role("navigation").get_by_role("link", name="Services").click()
    card = page.locator('article[data-service="user-service"]')
    expect(card).to_contain_text(f"sha-{push.after[:7]}")
    expect(card.locator('[data-stage="committer"]')).to_have_attribute("data-state", "succeeded")
    expect(card.locator('[data-stage="notifier"]')).to_have_attribute("data-state", "done")
    page.screenshot(path=tmp_path / "services.png", full_page=True)

    card.get_by_role("link", name=f"Last run {run_id}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Run {run_id}")
    expect(page.locator('.gantt-bar[data-stage="builder"]')).to_have_attribute("data-state", "done")
    log_url = f"{stack.api}/api/v1/runs/{run_id}/services/user-service/build-log"
    last_line = httpx.get(log_url, headers=stack.auth, timeout=5).text.strip().splitlines()[-1]
    expect(page.get_by_label("Build log of user-service")).to_contain_text(last_line.strip())
    expect(page.locator(".service-detail")).to_contain_text("Scan")
    page.screenshot(path=tmp_path / "run.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.get_by_role("navigation").get_by_role("link", name="Runs").click()
    expect(row).to_be_visible()
    page.screenshot(path=tmp_path / "runs-phone.png", full_page=True)

    page.get_by_role("navigation").get_by_role("link", name="Delivery metrics").click()
    metrics = page.locator('tr[data-service="user-service"]')
    expect(metrics).to_be_visible()
    expect(page.locator(".kpi").first).to_contain_text("/ day")
    page.screenshot(path=tmp_path / "metrics-phone.png", full_page=True)
    assert page.evaluate("window.sameDocument") is True
    assert any("/api/v1/events/stream?ticket=" in url for url in urls)
    assert not [url for url in urls if API_TOKEN in url]
    assert page.evaluate("Object.keys(localStorage)") == []  # the token stays in the tab
    print(f"screenshots in {tmp_path}")


def test_an_operator_rolls_a_service_back_from_the_dashboard(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    manifest = "k8s/manifests/account-service/deployment.yaml"
    push = stack.sample.append(
        "account_service/app.txt", "Risky change.", "feat(account): to be rolled back"
    )
    deployed = stack.wait_for_run(stack.push_webhook(push).json()["run_id"])
    assert deployed["status"] == "succeeded", deployed
    bad_image = deployed["services"]["account-service"]["image"]
    assert f"image: {bad_image}" in stack.sample.remote_file(manifest)

    page.goto(f"{stack.api}/")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    card = page.locator('article[data-service="account-service"]')
    card.get_by_text("Operate").click()
    card.get_by_role("button", name="Roll back").click()

    outcome = card.locator(".action-outcome")
    expect(outcome).to_contain_text("Rollback queued as run")
    rollback = stack.wait_for_run(outcome.get_by_role("link").inner_text())
    assert rollback["status"] == "succeeded", rollback
    head = stack.sample.remote_head()
    assert head.message.startswith(f"revert(account-service): roll back {bad_image} to ")
    assert f"image: {bad_image}" not in stack.sample.remote_file(manifest)
    assert rollback["services"]["account-service"]["gitops_commit"] == head.hexsha

    target = head.message.splitlines()[0].split(" to ", 1)[1].removesuffix(" [skip ci]")
    expect(card.locator(".badge-pinned")).to_be_visible(timeout=15_000)  # live, no reload
    expect(card.locator(".tag")).to_have_text(target.rsplit(":", 1)[1], timeout=15_000)
    page.screenshot(path=tmp_path / "rolled-back.png", full_page=True)
    card.get_by_role("button", name="Unpin").click()
    expect(outcome).to_contain_text("unpinned")
    pin = stack.get("/api/v1/services/account-service/pin", timeout=5).json()
    assert pin["pinned"] is False
