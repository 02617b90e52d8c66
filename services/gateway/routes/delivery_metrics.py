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
    failed rollout or rolled back) and time to restore, from the events of the last `days`."""
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
