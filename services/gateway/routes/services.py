"""The services table: what each configured repository deploys right now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.common.pins import PinStore
from services.common.service_inventory import InventoryStore
from services.gateway import inventory
from services.gateway.deps import RuntimeDep
from services.verifier.live import LiveStore

router = APIRouter(prefix="/api/v1/services", tags=["services"])


@router.get("")
def list_services(runtime: RuntimeDep) -> dict[str, Any]:
    """Every service with the image its manifest names at the gitops head, as the workers
    last surveyed it (`surveyed_at`), its last run, its pin and, with a cluster configured,
    its live state there (`live`: sync and health, ready replicas, the image running; null
    without a cluster or before the verifier saw it); `errors` lists the repositories not
    surveyed yet or whose last survey failed, and why."""
    redis = runtime.redis
    return inventory.list_services(
        runtime.settings, InventoryStore(redis), runtime.runs, PinStore(redis), LiveStore(redis)
    )
