"""A run asked for through the API is notified with the token's name (never its value) that
asked for it; a push's notification is as it was. On a real Redis, through the run store."""

from __future__ import annotations

import redis

from services.common.events import PromotionRequested, PushReceived
from services.common.runs import RunStore
from services.notifier.messages import body, summary
from tests.common.test_runs import push


def test_a_promotion_asked_for_with_a_token_is_notified_with_the_tokens_name(
    redis_client: redis.Redis,
) -> None:
    runs = RunStore(redis_client)
    runs.create(
        "run-promote",
        trigger="promotion",
        provider="manual",
        repository="acme/shop",
        pusher="team-staging",
    )
    request = PromotionRequested(
        run_id="run-promote", repository="acme/shop", services=("cart",), environment="staging"
    )

    completed = runs.finish_empty(request, "nothing to promote")

    assert completed.requested_by == "team-staging"
    assert summary(completed).splitlines()[1] == "  asked by team-staging"
    assert body(completed)["event"]["requested_by"] == "team-staging"


def test_a_push_is_notified_as_before_without_who_asked(redis_client: redis.Redis) -> None:
    runs = RunStore(redis_client)
    runs.create("run-1", trigger="push", provider="github", pusher="octocat")
    trigger: PushReceived = push()

    completed = runs.finish_empty(trigger, "only docs changed")

    assert completed.requested_by == ""
    assert "asked by" not in summary(completed)
