"""How fast the bus hands a dead worker's messages to the living (found by the chaos test:
tests/e2e/test_crash_safety.py stalled for 5 minutes when a kill hit a worker mid-sweep)."""

from __future__ import annotations

from services.common.bus import UNACKED_MUTEX_SECONDS, create_celery


def test_a_worker_killed_mid_sweep_holds_up_redelivery_for_seconds_not_minutes() -> None:
    celery = create_celery("redis://127.0.0.1:1/0", visibility_timeout=900)
    options = celery.conf.broker_transport_options

    assert options["unacked_mutex_expire"] == UNACKED_MUTEX_SECONDS <= 10
    assert options["unacked_restore_interval"] <= 10
    celery.close()
