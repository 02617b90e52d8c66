"""Delivery metrics (DORA) over a window of the event log, per service and overall."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.common import delivery_metrics
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/delivery-metrics", tags=["metrics"])


class Window(BaseModel):
    days: float
    since: str
    until: str


class DeliveryMetrics(BaseModel):
    window: Window
    overall: delivery_metrics.Metrics
    services: dict[str, delivery_metrics.Metrics]


@router.get("")
def get_delivery_metrics(
    runtime: RuntimeDep,
    days: Annotated[float, Query(gt=0, le=365, description="the window, up to now")] = 30,
) -> DeliveryMetrics:
    """Deployment frequency, lead time (push to committed), change failure rate (blocked,
    failed rollout or rolled back) and time to restore, from the events of the last `days`,
    `overall` and per service: `deployments` counts deploy and release commits; `lead_time`
    runs from the push to the manifest commit; a change failed when the scan blocked it, its
    rollout failed or it was later rolled back; `time_to_restore` runs from a failure to the
    next commit of another image (`open`: not restored yet)."""
    until = time.time()
    since = until - days * delivery_metrics.DAY
    report = delivery_metrics.compute(runtime.event_log.logged_since(since), since, until)
    return DeliveryMetrics(
        window=Window(days=days, since=_iso(since), until=_iso(until)),
        overall=report.overall,
        services=report.services,
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
