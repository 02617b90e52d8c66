"""The FastAPI gateway: wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.runtime import Runtime
from services.common.settings import Settings
from services.gateway import api_docs, errors
from services.gateway.event_stream import LiveStreams
from services.gateway.fast_path import Gateway
from services.gateway.intake import Intake
from services.gateway.routes import (
    build_logs,
    builds,
    dashboard,
    dead_letters,
    delivery_metrics,
    deployments,
    events,
    health,
    live,
    metrics,
    releases,
    runs,
    scans,
    webhooks,
)
from services.gateway.routes import services as services_routes


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.intake.aclose()
    await app.state.live_streams.aclose()


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    app = Gateway(
        title="Shipline",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api_docs, from the package and under a CSP
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.runtime = runtime or Runtime(settings)
    app.state.intake = Intake(app.state.runtime)
    app.state.live_streams = LiveStreams(app.state.runtime)
    errors.install(app)
    app.include_router(api_docs.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(webhooks.router)
    app.include_router(runs.router)
    app.include_router(scans.router)
    app.include_router(builds.router)
    app.include_router(events.router)
    app.include_router(live.router)
    app.include_router(dead_letters.router)
    app.include_router(releases.router)
    app.include_router(deployments.router)
    app.include_router(services_routes.router)
    app.include_router(build_logs.router)
    app.include_router(delivery_metrics.router)
    app.include_router(dashboard.router)
    return app
