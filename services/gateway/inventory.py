"""What is deployed: every service of each configured repository, with the image its
manifest names at the gitops branch head, its last run and its pin, and, when a cluster
runs its gitops branch, what the cluster runs (`live`, as the verifier last saw it).

Everything is read from Redis: the services and their images from the inventory the
detector and committer record (services/committer/survey.py), so the gateway needs no git
and no network but Redis.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.common.pins import PinStore
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore, Survey
from services.common.settings import Settings
from services.verifier.live import LiveStore

RUNS_SEARCHED = 1000  # how far back the last run of a service is looked for
NOT_SURVEYED = (
    "not surveyed yet: the detector records its services after the next push to "
    "{branch} (or any deploy, release or rollback)"
)


def list_services(
    settings: Settings,
    inventory: InventoryStore,
    runs: RunStore,
    pins: PinStore,
    live: LiveStore | None = None,
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for repo in settings.repositories:
        survey = inventory.read(repo.name)
        if survey is None:
            reason = NOT_SURVEYED.format(branch=repo.default_branch)
            errors.append({"repository": repo.name, "reason": reason})
            continue
        if survey.error is not None:
            errors.append(
                {"repository": repo.name, "reason": survey.error, "since": survey.surveyed_at}
            )
        rows += _rows(survey, pins)
    states: dict[str, dict[str, Any]] = {}  # one read per cluster
    for row in rows:
        cluster = row["cluster"]
        if cluster is not None and live is not None and cluster not in states:
            states[cluster] = live.read(cluster)
        state = states.get(cluster or "", {}).get(row.pop("image_repository"))
        row["live"] = (
            None if state is None else {**state, "matches_git": state["image"] == row["image"]}
        )
    wanted = {(row["repository"], row["service"]) for row in rows}
    last = last_runs(runs, wanted)
    for row in rows:
        row["last_run"] = last.get((row["repository"], row["service"]))
    return {"services": rows, "errors": errors}


def last_runs(runs: RunStore, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The newest run of each (repository, service), among the last RUNS_SEARCHED runs."""
    found: dict[tuple[str, str], Any] = {}
    for n, (run_id, _) in enumerate(runs.newest_first()):
        if n >= RUNS_SEARCHED or len(found) == len(wanted):
            break
        run = runs.get(run_id)
        if run is None:
            continue
        for name, service in run.services.items():
            key = (run.repository or "", name)
            if key in wanted and key not in found:
                found[key] = {
                    "run_id": run_id,
                    "status": service.status,
                    "run_status": run.status,
                    "image": service.image,
                    "created_at": run.created_at,
                }
    return found


def _rows(survey: Survey, pins: PinStore) -> list[dict[str, Any]]:
    rows = []
    for service in survey.services:
        row: dict[str, Any] = {"repository": survey.repository, **service.model_dump()}
        if row["problem"] is None:
            del row["problem"]
        row["surveyed_at"] = survey.surveyed_at
        pin = pins.get(survey.repository, service.service)
        row["pinned"] = pin is not None
        row["pin"] = asdict(pin) if pin else None
        rows.append(row)
    return rows
