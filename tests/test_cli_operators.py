"""`shipline status | runs | watch` and `--output json`, through click's runner against a
real API server (uvicorn in a thread) on a real Redis and real git repositories."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.committer.survey import resurvey
from services.common.deadletters import DeadLetterStore
from services.common.eventlog import EventLog
from services.common.events import BuildRequested, DeploymentSkipped, StageFailed
from services.common.logging import configure_logging
from services.common.pins import PinStore
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore
from services.detector.attempts import SentBuilds
from services.gateway.app import create_app
from services.reconciler.converge_state import ConvergeState, RetryState
from tests.api_server import serving
from tests.committer.gitrepos import REGISTRY, Repo, monorepo, settings_for
from tests.gateway.runs_data import build_failed, built, deployed, started_run

TOKEN = "cli-api-token-0123456789abc"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart", "payments"])


@pytest.fixture
def api_url(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Iterator[str]:
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=[TOKEN])
    # the workers survey a repository after each push; here the push happened before
    resurvey(settings, InventoryStore(redis_client), settings.repositories[0].name)
    configure_logging("json")  # as `shipline api` does: the server's logs go to stderr
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


def shipline(api_url: str, *args: str) -> tuple[int, str]:
    """Exit code and stdout (the API server shares the process: its logs go to stderr)."""
    env = {"SHIPLINE_URL": api_url, "SHIPLINE_TOKEN": TOKEN}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_status_shows_each_services_deployed_image_last_run_and_pin(
    api_url: str, runs: RunStore, redis_client: redis.Redis
) -> None:
    started_run(runs, "run-7", ["cart"])
    deployed(runs, "run-7", "cart")
    PinStore(redis_client).pin("acme/shop", "payments", f"{REGISTRY}/payments:v1", "ops", "rb-1")

    code, output = shipline(api_url, "status")

    assert code == 0, output
    header, cart, payments = output.splitlines()
    assert header.split() == [
        "SERVICE",
        "REPOSITORY",
        "IMAGE",
        "LAST",
        "RUN",
        "STATUS",
        "AGE",
        "PINNED",
    ]
    assert cart.split()[:5] == [
        "cart",
        "acme/shop",
        f"{REGISTRY}/cart:initial",
        "run-7",
        "succeeded",
    ]
    assert payments.split()[:4] == ["payments", "acme/shop", f"{REGISTRY}/payments:initial", "-"]
    assert payments.endswith(f"yes ({REGISTRY}/payments:v1)")


def test_status_output_json_is_the_apis_answer(api_url: str) -> None:
    code, output = shipline(api_url, "status", "-o", "json")

    assert code == 0, output
    answer = json.loads(output)
    assert [row["service"] for row in answer["services"]] == ["cart", "payments"]
    assert answer["errors"] == []


def test_runs_lists_newest_first_filtered_by_service_status_and_limit(
    api_url: str, runs: RunStore
) -> None:
    started_run(runs, "r-cart", ["cart"])
    deployed(runs, "r-cart", "cart")
    started_run(runs, "r-pay-bad", ["payments"])
    build_failed(runs, "r-pay-bad", "payments")
    started_run(runs, "r-pay-ok", ["payments"])
    deployed(runs, "r-pay-ok", "payments")

    _, everything = shipline(api_url, "runs")
    _, payments = shipline(api_url, "runs", "--service", "payments", "--limit", "1")
    _, failed = shipline(api_url, "runs", "--status", "failed", "--output", "json")

    assert [line.split()[0] for line in everything.splitlines()] == [
        "RUN",
        "r-pay-ok",
        "r-pay-bad",
        "r-cart",
    ]
    assert everything.splitlines()[1].split()[:4] == ["r-pay-ok", "succeeded", "push", "payments"]
    assert [line.split()[0] for line in payments.splitlines()] == ["RUN", "r-pay-ok"]
    assert [run["run_id"] for run in json.loads(failed)["runs"]] == ["r-pay-bad"]


def test_runs_with_a_bad_since_fails_with_the_apis_reason(api_url: str) -> None:
    code, output = shipline(api_url, "runs", "--since", "last tuesday")

    assert code != 0
    assert "HTTP 422" in output and "since: expected an ISO 8601 time" in output


def drive(runs: RunStore, log: EventLog, fail: bool) -> threading.Thread:
    """A run progressing while the CLI watches: events projected and logged as workers do."""

    def progress() -> None:
        time.sleep(0.5)
        log.append(built(runs, "live", "cart"))
        time.sleep(0.3)
        if fail:
            build_failed(runs, "live", "payments")
        else:
            deployed(runs, "live", "payments")
        completed = deployed(runs, "live", "cart")
        assert completed is not None
        log.append(completed)

    thread = threading.Thread(target=progress, daemon=True)
    thread.start()
    return thread


def test_watch_follows_each_service_stage_by_stage_until_the_run_succeeds(
    api_url: str, runs: RunStore, redis_client: redis.Redis
) -> None:
    started_run(runs, "live", ["cart", "payments"])
    thread = drive(runs, EventLog(redis_client), fail=False)

    code, output = shipline(api_url, "watch", "live")
    thread.join(timeout=10)

    assert code == 0, output
    lines = output.splitlines()
    assert any(line.startswith("cart   detector   done") for line in lines)
    assert any(line.startswith("payments   builder   done") for line in lines)
    assert any(line.startswith("cart   committer   succeeded") for line in lines)
    assert lines[-1] == "run live succeeded"


def test_watch_exits_non_zero_when_the_run_fails(
    api_url: str, runs: RunStore, redis_client: redis.Redis
) -> None:
    started_run(runs, "live", ["cart", "payments"])
    thread = drive(runs, EventLog(redis_client), fail=True)

    code, output = shipline(api_url, "watch", "live", "--output", "json")
    thread.join(timeout=10)

    assert code == 1
    run = json.loads(output)
    assert run["status"] == "failed"
    assert run["services"]["payments"]["status"] == "failed"


def test_watch_of_an_unknown_run_says_so(api_url: str) -> None:
    code, output = shipline(api_url, "watch", "nope")

    assert code != 0
    assert "HTTP 404: run nope not found" in output


def test_unpin_output_json_is_the_apis_answer(api_url: str, redis_client: redis.Redis) -> None:
    PinStore(redis_client).pin("acme/shop", "cart", f"{REGISTRY}/cart:v1", "ops", "rb-1")

    code, output = shipline(api_url, "unpin", "cart", "-o", "json")

    assert code == 0, output
    answer = json.loads(output)
    assert (answer["unpinned"], answer["pin"]["image"]) == (True, f"{REGISTRY}/cart:v1")


def test_publish_output_json_is_the_apis_answer_with_the_event_type(api_url: str) -> None:
    event = BuildRequested(
        run_id="manual-9", repository="acme/shop", ref="refs/heads/main", services=("cart",)
    )
    env = {"SHIPLINE_URL": api_url, "SHIPLINE_TOKEN": TOKEN}

    result = CliRunner().invoke(
        main, ["publish", "-", "-o", "json"], input=event.model_dump_json(), env=env
    )

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["type"], answer["run_id"], answer["queue"]) == (
        "BuildRequested",
        "manual-9",
        "detector",
    )
    assert answer["event_id"]


def test_dead_letters_lists_what_the_stages_gave_up_on_newest_first(
    api_url: str, redis_client: redis.Redis
) -> None:
    letters = DeadLetterStore(redis_client)
    letters.add(
        stage="scanner",
        cause="permanent",
        error_class="ScanError",
        message="trivy: image not found\nmore detail",
        attempts=1,
        payload="{}",
        event_type="ImagePushed",
        event_id="e-1",
        run_id="run-1",
        service="cart",
    )
    time.sleep(0.01)
    letters.add(
        stage="builder",
        cause="undecodable",
        error_class="EventDecodeError",
        message="not an event",
        attempts=1,
        payload="garbage",
    )

    code, output = shipline(api_url, "dead-letters")
    _, as_json = shipline(api_url, "dead-letters", "--limit", "1", "--output", "json")

    assert code == 0, output
    header, newest, oldest, how = output.splitlines()
    assert (
        how == "to queue one again once its cause is fixed: shipline publish --from-dead-letter ID"
    )
    assert header.split()[:4] == ["ID", "CAUSE", "EVENT", "RUN"]
    assert newest.split()[:3] == [newest.split()[0], "undecodable", "-"]
    assert newest.startswith("builder-")
    assert (
        oldest.startswith("scanner-") and "run-1" in oldest and "trivy: image not found" in oldest
    )
    assert "more detail" not in output
    answer = json.loads(as_json)
    assert answer["total"] == 2 and [d["stage"] for d in answer["dead_letters"]] == ["builder"]
    [letter] = answer["dead_letters"]
    assert letter["republish"] == f"shipline publish --from-dead-letter {letter['id']}"


def test_watch_of_a_run_whose_detector_failed_shows_why(api_url: str, runs: RunStore) -> None:
    runs.create("broken", trigger="push", repository="acme/shop", commit="c" * 40)
    runs.stage_started("broken", None, "detector")
    why = "shipline.yaml: services.cart.path: cartt/ does not exist at ccccccc"
    completed = runs.apply(
        StageFailed(run_id="broken", stage="detector", error_class="PermanentError", message=why)
    )
    assert completed is not None
    runs.apply(completed)

    code, output = shipline(api_url, "watch", "broken")

    assert code == 1
    assert output.splitlines()[-1] == f"run broken failed: detector: PermanentError: {why}"


def test_watch_of_a_held_run_says_held_once_and_why(
    api_url: str, runs: RunStore, redis_client: redis.Redis
) -> None:
    started_run(runs, "pinned", ["cart"])
    pushed = built(runs, "pinned", "cart")
    reason = "held: pinned to shop/cart:v1 by ops (rollback run rb-1); `shipline unpin cart`"
    completed = runs.apply(
        DeploymentSkipped(
            run_id="pinned",
            service="cart",
            source=pushed.source,
            image=pushed.image,
            outcome="held",
            reason=reason,
        )
    )
    assert completed is not None
    runs.apply(completed)

    code, output = shipline(api_url, "watch", "pinned")

    assert code == 0, output
    assert output.splitlines()[-2:] == [f"cart: {reason}", "run pinned held"]


def test_status_says_how_far_a_service_is_behind_and_how_its_last_build_went(
    shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis, runs: RunStore
) -> None:
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    trailers = f"Shipline-Deployed: cart {shop.name}@{base}"
    shop.commit({}, f"chore: deploy [skip ci]\n\n{trailers}\n")
    for n in (2, 3, 4):
        shop.commit({"cart/app.txt": f"cart {n}\n"}, f"feat(cart): {n}")
    started_run(runs, "run-9", ["cart"])
    build_failed(runs, "run-9", "cart")
    SentBuilds(redis_client).record(shop.name, "refs/heads/main", ["cart"], "run-9")
    retry = RetryState(run_id="run-9", retry_at=time.time() + 40)
    ConvergeState(redis_client).put(shop.name, "cart", retry)
    settings = settings_for(tmp_path / "api2", shop, redis_url=redis_url, api_tokens=[TOKEN])
    resurvey(settings, InventoryStore(redis_client), shop.name)

    with serving(create_app(settings)) as url:
        code, output = shipline(url, "status")

    assert code == 0, output
    lines = output.splitlines()
    assert len(lines) == 4  # the header, a row per service, the one line of drift
    assert re.fullmatch(
        rf"cart: behind by 3 commits since {base[:7]}; last attempt failed: "
        r"builder: PermanentError: docker build failed: exit 1; retrying in (40|39) s",
        lines[3],
    )
