"""The FastAPI gateway: wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from services.common.runtime import Runtime
from services.common.settings import Settings
from services.gateway import api_docs, errors
from services.gateway.api_models import ERROR_RESPONSES
from services.gateway.auth import read_access
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
    promotions,
    releases,
    runs,
    scans,
    stream_tickets,
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
        responses=ERROR_RESPONSES,  # every route refuses in the one error format (errors.py)
    )
    app.state.runtime = runtime or Runtime(settings)
    app.state.intake = Intake(app.state.runtime)
    app.state.live_streams = LiveStreams(app.state.runtime)
    errors.install(app)
    for public in (api_docs, health, webhooks, dashboard):  # the dashboard's shell holds no data
        app.include_router(public.router)
    app.include_router(private_api())
    return app


def private_api() -> APIRouter:
    """Every other route: a token with read scope, or `public_read` (auth.read_access)."""
    private = APIRouter(dependencies=[Depends(read_access)])
    for module in (
        metrics,
        runs,
        scans,
        builds,
        events,
        live,
        stream_tickets,
        dead_letters,
        releases,
        deployments,
        promotions,
        services_routes,
        build_logs,
        delivery_metrics,
    ):
        private.include_router(module.router)
    return private
