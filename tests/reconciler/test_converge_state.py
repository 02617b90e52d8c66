"""The reconciler's retry state on a real Redis: what the drift display reads back."""

from __future__ import annotations

import redis

from services.common.keyspace import Keyspace
from services.reconciler.converge_state import ConvergeState, RetryState, retry_at


def test_a_stored_retry_time_is_read_back_and_forgetting_it_answers_none(
    redis_client: redis.Redis,
) -> None:
    keys = Keyspace("conv")
    store = ConvergeState(redis_client, keys=keys)
    store.put("acme/shop", "api", RetryState(run_id="r1", retries=2, retry_at=1234.5))
    assert store.get("acme/shop", "api") == RetryState(run_id="r1", retries=2, retry_at=1234.5)
    assert retry_at(redis_client, "acme/shop", "api", keys) == 1234.5
    assert redis_client.exists("conv:reconciler:retry:acme/shop:api")
    store.put("acme/shop", "api", None)
    assert store.retry_at("acme/shop", "api") is None


def test_a_retry_under_way_has_no_retry_time(redis_client: redis.Redis) -> None:
    store = ConvergeState(redis_client)
    store.put("acme/shop", "web", RetryState(run_id="r2", retries=1))
    assert store.retry_at("acme/shop", "web") is None
    assert store.retry_at("acme/shop", "never-failed") is None
