"""Where the run store keeps a run in Redis: every key of it, under one prefix."""

from __future__ import annotations

PREFIX = "shipline:run:"
INDEX = "shipline:runs"  # sorted set of run ids, scored by creation time


def run_key(run_id: str) -> str:
    """The run's hash: status, trigger, times, and the trigger's own fields."""
    return f"{PREFIX}{run_id}"


def service_key(run_id: str, service: str) -> str:
    """One service's hash: stage, status, image, digest, reason, per-stage times."""
    return f"{PREFIX}{run_id}:svc:{service}"


def services_key(run_id: str) -> str:
    """The set of the run's service names."""
    return f"{run_key(run_id)}:services"


def finished_key(run_id: str) -> str:
    """The set of the services that ended."""
    return f"{run_key(run_id)}:finished"


def scanned_key(run_id: str) -> str:
    """The set of the services with a scan outcome (a release waits for all of them)."""
    return f"{run_key(run_id)}:scanned"
