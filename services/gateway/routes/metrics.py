"""GET /metrics: the pipeline's Prometheus metrics (text exposition format)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.common.settings import STAGES
from services.gateway.deps import RuntimeDep
from services.gateway.metrics import PipelineCollector, ServicesSurveyed

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Prometheus text: `shipline_runs_total{outcome}` (finished runs),
    `shipline_stage_duration_seconds{stage}` (a histogram over the services of finished runs),
    `shipline_runs_in_progress{status}`, `shipline_queue_depth{stage}` (tasks waiting in each
    stage's queue), `shipline_services_behind{repository}` (services whose default branch
    holds a change they do not run, pinned ones left out); computed from Redis at scrape
    time, so one scrape target covers every worker. Prometheus scrapes it with a read-only token."""
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics", None)
    if registry is None:  # one per app: the collector remembers the runs it counted
        registry = CollectorRegistry(auto_describe=False)
        repositories = [repo.name for repo in runtime.settings.repositories]
        surveyed = ServicesSurveyed(runtime.inventory, runtime.pins, repositories)
        registry.register(PipelineCollector(runtime.runs, runtime.redis, STAGES, surveyed))
        request.app.state.metrics = registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
