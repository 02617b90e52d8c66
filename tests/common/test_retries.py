"""The retry budget: exponential delays with jitter, counted from an event's first transient
failure, configured under `retry:` (`max_retries`, when set, also caps the count)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common.errors import ConfigError, TransientError
from services.common.events import StageFailed, encode_event
from services.common.retries import RetrySettings, describe_duration, next_delay
from services.common.runtime import Runtime
from services.common.settings import Settings, load_settings
from services.common.stage import RetryLater, StageRunner
from tests.common.test_stage import image_pushed, planned_run, queued, raising, scanner

DEFAULT = RetrySettings()


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (40, 60)]
)
def test_each_delay_is_between_half_and_all_of_the_doubled_and_capped_delay(
    attempt: int, ceiling: float
) -> None:
    delays = [next_delay(DEFAULT, attempt, failing_for=0) for _ in range(200)]

    assert all(d is not None and ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1  # jittered


def test_the_default_schedule_rides_out_five_minutes_of_outage_then_gives_up() -> None:
    failing_for, attempt = 0.0, 1
    while (delay := next_delay(DEFAULT, attempt, failing_for)) is not None:
        failing_for += delay
        attempt += 1

    assert failing_for == pytest.approx(300)  # the last retry is placed at the budget's end
    assert 8 <= attempt <= 20


def test_the_last_delay_is_cut_to_what_is_left_of_the_budget() -> None:
    assert next_delay(DEFAULT, 10, failing_for=299.5) == pytest.approx(0.5)
    assert next_delay(DEFAULT, 10, failing_for=300) is None


def test_max_retries_caps_the_count_within_the_budget() -> None:
    assert next_delay(DEFAULT, 2, failing_for=0, max_retries=2) is not None
    assert next_delay(DEFAULT, 3, failing_for=0, max_retries=2) is None


def test_a_duration_reads_in_minutes_and_seconds() -> None:
    assert describe_duration(298.6) == "4m 59s"
    assert describe_duration(9.2) == "9s"


def test_by_default_the_budget_alone_decides_how_often_a_failure_is_retried(
    tmp_path: Path,
) -> None:
    settings = Settings(workdir=tmp_path)

    assert settings.max_retries is None
    assert settings.retry == RetrySettings(
        budget_seconds=300, initial_delay_seconds=1, max_delay_seconds=60
    )


def test_the_retry_section_is_read_from_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("retry:\n  budget_seconds: 600\n  max_delay_seconds: 120\n")
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
    monkeypatch.setenv("SHIPLINE_RETRY__INITIAL_DELAY_SECONDS", "2")

    retry = load_settings().retry

    assert (retry.budget_seconds, retry.initial_delay_seconds, retry.max_delay_seconds) == (
        600,
        2,
        120,
    )


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        (
            "visibility_timeout: 100\nretry:\n  max_delay_seconds: 60\n",
            "retry.max_delay_seconds must be at most half of visibility_timeout (50)",
        ),
        (
            "retry:\n  initial_delay_seconds: 90\n",
            "initial_delay_seconds must not exceed max_delay_seconds",
        ),
    ],
    ids=["longer-than-the-visibility-timeout", "initial-above-max"],
)
def test_a_retry_setting_that_cannot_work_is_refused_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str, problem: str
) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(yaml_text)
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))

    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert problem in str(refused.value)


# --- the stage runner spends the budget ---------------------------------------------------


@pytest.fixture
def budget_runtime(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> Iterator[Runtime]:
    retry = RetrySettings(budget_seconds=5, initial_delay_seconds=0.1, max_delay_seconds=1)
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path, retry=retry))
    yield runtime
    if "celery" in runtime.__dict__:
        runtime.celery.close()
    runtime.redis.close()


SCANNER = scanner(raising(TransientError("registry 127.0.0.1:5000 unreachable: ConnectError"), []))


def test_a_first_transient_failure_starts_the_budgets_clock(budget_runtime: Runtime) -> None:
    runner = StageRunner(SCANNER, budget_runtime)
    before = time.time()

    with pytest.raises(RetryLater) as later:
        runner.process(encode_event(image_pushed()), attempt=1)

    assert later.value.failing_since is not None
    assert before <= later.value.failing_since <= time.time()
    assert 0.05 <= later.value.countdown <= 0.1


def test_retries_go_on_while_the_budget_lasts_whatever_their_number(
    budget_runtime: Runtime,
) -> None:
    runner = StageRunner(SCANNER, budget_runtime)
    since = time.time() - 4

    with pytest.raises(RetryLater) as later:
        runner.process(encode_event(image_pushed()), attempt=40, failing_since=since)

    assert later.value.failing_since == since  # the clock is not restarted
    assert later.value.countdown <= 1


def test_once_the_budget_is_spent_the_failure_names_the_command_that_republishes_it(
    budget_runtime: Runtime, redis_client: redis.Redis
) -> None:
    planned_run(budget_runtime)
    runner = StageRunner(SCANNER, budget_runtime)

    runner.process(encode_event(image_pushed()), attempt=9, failing_since=time.time() - 6)

    [failed, _completed] = queued(redis_client, "notifier")
    assert isinstance(failed, StageFailed) and failed.retryable
    [letter] = budget_runtime.dead_letters.newest_first()
    assert letter.cause == "retries-exhausted"
    assert failed.message == (
        "registry 127.0.0.1:5000 unreachable: ConnectError (gave up after 9 attempts over 6s; "
        f"once it is back: `shipline publish --from-dead-letter {letter.id}`)"
    )
