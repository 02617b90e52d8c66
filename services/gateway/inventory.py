"""What is deployed: every service of each configured repository, with the image its
manifest names at the gitops branch head, its last run and its pin, and, when a cluster
runs its gitops branch, what the cluster runs (`live`, as the verifier last saw it).

Everything is read from Redis: the services and their images from the inventory the
detector and committer record (services/committer/survey.py), so the gateway needs no git
and no network but Redis.
"""

from __future__ import annotations

from typing import Any

from services.common.environment_view import EnvironmentsStore
from services.common.pins import PinStore
from services.common.promotion_pulls import PromotionPulls
from services.common.runs import RunReads, RunStore
from services.common.service_inventory import InventoryStore, ServiceRow, Survey
from services.common.service_table import (
    Drift,
    LastRun,
    LiveState,
    ServicesTable,
    ServiceState,
    SurveyError,
)
from services.common.settings import Settings
from services.gateway.drift import DriftReader, drift_of
from services.gateway.environment_states import environment_states
from services.verifier.live import LiveStore

RUNS_SEARCHED = 1000  # how far back the last run of a service is looked for
NOT_SURVEYED = (
    "not surveyed yet: the detector records its services after the next push to "
    "{branch} (or any deploy, release or rollback)"
)

ServiceKey = tuple[str, str]  # (repository, service)


def list_services(
    settings: Settings,
    inventory: InventoryStore,
    runs: RunStore,
    pins: PinStore,
    live: LiveStore | None = None,
    drift: DriftReader | None = None,
    environments: EnvironmentsStore | None = None,
    pulls: PromotionPulls | None = None,
) -> ServicesTable:
    surveys, errors = _surveys(settings, inventory)
    found = [(survey, row) for survey in surveys for row in survey.services]
    drifts = _drifts(settings, surveys, drift)
    last = last_runs(runs, {(survey.repository, row.service) for survey, row in found})
    clusters = {row.cluster for _, row in found if row.cluster is not None}
    seen = {cluster: live.read(cluster) for cluster in clusters} if live else {}  # one read each
    services = [
        _state(
            survey,
            row,
            pins,
            seen.get(row.cluster or "", {}).get(row.image_repository),
            last.get((survey.repository, row.service)),
            drifts.get((survey.repository, row.service)) or drift_of(row, None, None),
        )
        for survey, row in found
    ]
    if environments is not None:
        _add_environments(services, surveys, environments, runs, pulls)
    return ServicesTable(services=services, errors=errors)


def _add_environments(
    services: list[ServiceState],
    surveys: list[Survey],
    store: EnvironmentsStore,
    runs: RunStore,
    pulls: PromotionPulls | None,
) -> None:
    """Each service of a repository the committer recorded environments for gains them."""
    views = {s.repository: view for s in surveys if (view := store.read(s.repository))}
    if not views:
        return
    keys = [(state.repository, state.service) for state in services]
    found = environment_states(views, keys, runs, pulls.open() if pulls else ())
    for state in services:
        if (state.repository, state.service) in found:
            state.environments = found[(state.repository, state.service)]


def last_runs(runs: RunStore, wanted: set[ServiceKey]) -> dict[ServiceKey, LastRun]:
    """The newest run of each (repository, service): from the service's index, or, while
    the indexes are being built, among the last RUNS_SEARCHED runs."""
    if runs.index.built():
        return _last_runs_indexed(runs, wanted)
    found: dict[ServiceKey, LastRun] = {}
    for n, (run_id, _) in enumerate(runs.newest_first()):
        if n >= RUNS_SEARCHED or len(found) == len(wanted):
            break
        run = runs.get(run_id)
        if run is None:
            continue
        for name, service in run.services.items():
            key = (run.repository or "", name)
            if key in wanted and key not in found:
                found[key] = LastRun(
                    run_id=run_id,
                    status=service.status,
                    run_status=run.status,
                    image=service.image,
                    created_at=run.created_at,
                )
    return found


def _last_runs_indexed(runs: RunStore, wanted: set[ServiceKey]) -> dict[ServiceKey, LastRun]:
    found: dict[ServiceKey, LastRun] = {}
    read, newest = RunReads(runs), runs.index.newest_of_each(wanted)
    read.ahead(newest.values())
    for repository, name in wanted:
        for run_id in runs.index.of_service(repository, name, newest.get((repository, name))):
            run = read(run_id)
            service = run.services.get(name) if run and run.repository == repository else None
            if run is not None and service is not None:
                found[(repository, name)] = LastRun(
                    run_id=run_id,
                    status=service.status,
                    run_status=run.status,
                    image=service.image,
                    created_at=run.created_at,
                )
                break
    return found


def _drifts(
    settings: Settings, surveys: list[Survey], reader: DriftReader | None
) -> dict[ServiceKey, Drift]:
    found: dict[ServiceKey, Drift] = {}
    for survey in surveys if reader is not None else []:
        repo = settings.repository(survey.repository)
        if repo is None or reader is None:
            continue
        drifts = reader.drifts(survey.repository, repo.default_branch, survey.services)
        for row, drift in zip(survey.services, drifts, strict=True):
            found[(survey.repository, row.service)] = drift
    return found


def _surveys(
    settings: Settings, inventory: InventoryStore
) -> tuple[list[Survey], list[SurveyError]]:
    """The surveys recorded, and the repositories not surveyed yet or whose survey failed."""
    surveys, errors = [], []
    for repo in settings.repositories:
        survey = inventory.read(repo.name)
        if survey is None:
            reason = NOT_SURVEYED.format(branch=repo.default_branch)
            errors.append(SurveyError(repository=repo.name, reason=reason))
            continue
        if survey.error is not None:
            errors.append(
                SurveyError(repository=repo.name, reason=survey.error, since=survey.surveyed_at)
            )
        surveys.append(survey)
    return surveys, errors


def _state(
    survey: Survey,
    row: ServiceRow,
    pins: PinStore,
    live: dict[str, Any] | None,
    last_run: LastRun | None,
    drift: Drift,
) -> ServiceState:
    pin = pins.get(survey.repository, row.service)
    state = ServiceState(
        repository=survey.repository,
        service=row.service,
        image=row.image,
        manifest=row.manifest,
        gitops_repository=row.gitops_repository,
        gitops_commit=row.gitops_commit,
        cluster=row.cluster,
        surveyed_at=survey.surveyed_at,
        pinned=pin is not None,
        pin=pin,
        live=None if live is None else _live(live, row.image),
        last_run=last_run,
        deployed_commit=row.deployed_commit,
        desired_commit=row.desired_commit,
        behind_by=row.behind_by,
        drift=drift,
    )
    if row.problem is not None:
        state.problem = row.problem  # else left unset: absent from the JSON
    return state


def _live(state: dict[str, Any], image: str | None) -> LiveState:
    """The verifier's record of the cluster, and whether it runs the image git names."""
    seen = LiveState.model_validate({**state, "matches_git": False})
    return seen.model_copy(update={"matches_git": seen.image == image})
