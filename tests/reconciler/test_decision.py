"""Which deliveries are lost: decided from the event log and what Redis showed, no Redis."""

from __future__ import annotations

import pytest

from services.common.events import DeploymentFailed
from services.reconciler.decision import Delivery, Sighting, Verdict, deliveries, verdict
from tests.reconciler.events import SOURCE, change, image, push

VISIBILITY = 60
NOW = 1_000.0
OLD = NOW - VISIBILITY - 1
YOUNG = NOW - VISIBILITY + 1


@pytest.mark.parametrize(
    ("published", "seen", "expected"),
    [
        (YOUNG, Sighting(), Verdict.YOUNG),
        (OLD, Sighting(queued=True), Verdict.QUEUED),
        (OLD, Sighting(unacked=True), Verdict.UNACKED),
        (OLD, Sighting(claimed=True), Verdict.CLAIMED),
        (OLD, Sighting(done=True), Verdict.DONE),
        (OLD, Sighting(redriven=True), Verdict.REDRIVEN),
        (OLD, Sighting(queued=None), Verdict.QUEUED),  # a queue too long to read
        (OLD, Sighting(unacked=None), Verdict.UNACKED),
        (OLD, Sighting(), Verdict.LOST),
        (NOW - VISIBILITY, Sighting(), Verdict.YOUNG),  # exactly the timeout: not yet
    ],
    ids=[
        "young",
        "queued",
        "unacked",
        "claimed",
        "done",
        "redriven",
        "queue-unread",
        "unacked-unread",
        "lost",
        "at-the-timeout",
    ],
)
def test_only_an_old_delivery_seen_nowhere_is_lost(
    published: float, seen: Sighting, expected: Verdict
) -> None:
    delivery = Delivery(push(), "detector", 0, published)
    assert verdict(delivery, seen, NOW, VISIBILITY) is expected


def test_each_service_is_judged_by_its_newest_event_and_the_run_by_its_own() -> None:
    trigger, built, detected_only = push(), image("user-service"), change("ledger")
    logged = [(1.0, trigger), (2.0, change("user-service")), (3.0, detected_only), (4.0, built)]
    found = {(d.event.event_id, d.stage) for d in deliveries(reversed(logged))}
    assert found == {
        (trigger.event_id, "detector"),
        (detected_only.event_id, "builder"),
        (built.event_id, "scanner"),
    }


def test_an_event_for_two_stages_is_two_deliveries_with_their_own_task_ids() -> None:
    failed = DeploymentFailed(
        run_id="run-1",
        service="user-service",
        source=SOURCE,
        cluster="prod",
        gitops_commit="2" * 40,
        image="localhost:5000/microbank/user-service:sha-0123456",
        condition="CrashLoopBackOff",
        reason="crashing",
        auto_rollback=True,
    )
    found = deliveries([(5.0, failed)])
    assert [(d.stage, d.task_id) for d in found] == [
        ("notifier", str(failed.event_id)),
        ("committer", f"{failed.event_id}:committer"),
    ]
