"""The keyspace: every Redis key under one namespace, the default one byte-identical to the
keys Shipline always wrote (existing deployments keep their data)."""

from __future__ import annotations

import uuid
from hashlib import sha256

import pytest

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace

EVENT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def every_key(keys: Keyspace) -> dict[str, str]:
    """One key of every kind, by the name of the function that builds it."""
    return {
        "runs_index": keys.runs_index,
        "run": keys.run("r1"),
        "run_service": keys.run_service("r1", "api"),
        "run_services": keys.run_services("r1"),
        "run_finished": keys.run_finished("r1"),
        "run_scanned": keys.run_scanned("r1"),
        "events": keys.events,
        "run_events": keys.run_events("r1"),
        "event_logged": keys.event_logged(EVENT),
        "delivery": keys.delivery("github", "d-1"),
        "push_update": keys.push_update("acme/shop", "refs/heads/main"),
        "hand_run": keys.hand_run("r1"),
        "stage_claim": keys.stage_claim("builder", EVENT),
        "stage_done": keys.stage_done("builder", EVENT),
        "dead_letters": keys.dead_letters,
        "dead_letter": keys.dead_letter("builder-0123456789abcdef"),
        "pin": keys.pin("acme/shop", "cart"),
        "inventory": keys.inventory("acme/shop"),
        "scan_verdict": keys.scan_verdict("reg/cart", "sha256:ab"),
        "project_checked": keys.project_checked("acme/shop", "c0ffee"),
        "newest_build": keys.newest_build("acme/shop", "refs/heads/main", "cart"),
        "build_lease": keys.build_lease("reg/cart", "c0ffee"),
        "last_tag": keys.last_tag("reg/cart", "refs/heads/main"),
        "gitops_lock": keys.gitops_lock("gitops", "main"),
        "run_notified": keys.run_notified("r1", "slack-0", "succeeded"),
        "event_sent": keys.event_sent(EVENT, "webhook-0"),
        "live": keys.live("prod"),
    }


def test_the_default_keys_are_the_ones_shipline_always_wrote() -> None:
    ref = sha256(b"acme/shop\x00refs/heads/main").hexdigest()
    assert every_key(DEFAULT_KEYSPACE) == {
        "runs_index": "shipline:runs",
        "run": "shipline:run:r1",
        "run_service": "shipline:run:r1:svc:api",
        "run_services": "shipline:run:r1:services",
        "run_finished": "shipline:run:r1:finished",
        "run_scanned": "shipline:run:r1:scanned",
        "events": "shipline:events",
        "run_events": "shipline:run:r1:events",
        "event_logged": f"shipline:logged:{EVENT}",
        "delivery": "shipline:delivery:github:d-1",
        "push_update": f"shipline:push:{ref}",
        "hand_run": "shipline:hand-run:r1",
        "stage_claim": f"shipline:claim:builder:{EVENT}",
        "stage_done": f"shipline:done:builder:{EVENT}",
        "dead_letters": "shipline:dead-letters",
        "dead_letter": "shipline:dead-letter:builder-0123456789abcdef",
        "pin": "shipline:pin:acme/shop:cart",
        "inventory": "shipline:inventory:acme/shop",
        "scan_verdict": "shipline:scan-verdict:reg/cart@sha256:ab",
        "project_checked": "shipline:project-checked:acme/shop:c0ffee",
        "newest_build": "shipline:builder:newest:acme/shop:refs/heads/main:cart",
        "build_lease": "shipline:builder:lease:reg/cart:c0ffee",
        "last_tag": "shipline:builder:last:reg/cart:refs/heads/main",
        "gitops_lock": "shipline:lock:gitops:gitops:main",
        "run_notified": "shipline:notified:r1:slack-0:succeeded",
        "event_sent": f"shipline:sent:{EVENT}:webhook-0",
        "live": "shipline:live:prod",
    }


def test_another_namespace_puts_every_key_under_it() -> None:
    keys = Keyspace("team-a.shipline")
    outside = [key for key in every_key(keys).values() if not key.startswith("team-a.shipline:")]
    assert outside == []
    assert keys.pins_pattern == "team-a.shipline:pin:*"
    assert keys.pattern == "team-a.shipline:*"


@pytest.mark.parametrize("namespace", ["", "a:b", "ship*", "ship?", "[x]", "-x", "a" * 64])
def test_a_namespace_that_could_leak_into_another_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Keyspace(namespace)
