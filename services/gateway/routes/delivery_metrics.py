"""Delivery metrics (DORA) over a window of the event log, per service and overall."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.common import delivery_metrics
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/delivery-metrics", tags=["metrics"])


@router.get("")
def get_delivery_metrics(
    runtime: RuntimeDep,
    days: Annotated[float, Query(gt=0, le=365, description="the window, up to now")] = 30,
) -> dict[str, Any]:
    """Deployment frequency, lead time (push to committed), change failure rate (blocked,
    failed rollout or rolled back) and time to restore, from the events of the last `days`."""
    until = time.time()
    since = until - days * delivery_metrics.DAY
    report = delivery_metrics.compute(runtime.event_log.logged_since(since), since, until)
    return {
        "window": {"days": days, "since": _iso(since), "until": _iso(until)},
        "overall": asdict(report.overall),
        "services": {name: asdict(m) for name, m in report.services.items()},
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
