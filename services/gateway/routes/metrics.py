"""GET /metrics: the pipeline's Prometheus metrics (text exposition format)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.common.settings import STAGES
from services.gateway.deps import RuntimeDep
from services.gateway.metrics import PipelineCollector

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Finished runs by outcome, stage durations (histogram), runs in progress, queue depths."""
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics", None)
    if registry is None:  # one per app: the collector remembers the runs it counted
        registry = CollectorRegistry(auto_describe=False)
        registry.register(PipelineCollector(runtime.runs, runtime.redis, STAGES))
        request.app.state.metrics = registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
