"""What each environment runs, read from the gitops checkout at its head: per service, the
image its environment's manifest holds and, when the newest change to that manifest is a
Shipline commit to that environment, the source commit it names (its `Shipline-Deployed`
trailer; services/detector/environment_runs.py). A manifest last changed by anything else
(a person's commit, a rollback to an image of unknown source) runs nothing promotable.

The committer promotes from it (promote.py) and, after each commit, records it for the
gateway (services/common/environment_view.py): each environment read on its own gitops
repository and branch (its `gitops:`, else the project's).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path

import redis

from services.committer.formats import read_image
from services.committer.gitops_commit import Finished, GitopsCommits, Prepare
from services.committer.pins_file import PINS_FILE, parse_pins
from services.committer.targets import Target, Targets
from services.committer.yamlsplice import ManifestError
from services.common.environment_view import (
    EnvironmentsStore,
    EnvironmentsView,
    EnvironmentView,
    Running,
)
from services.common.errors import PermanentError, ShiplineError
from services.common.git_checkout import Checkout
from services.common.logging import get_logger
from services.common.project import Project
from services.common.safe_files import UnsafePath
from services.detector.environment_runs import trailers_of


def running_in(
    checkout: Checkout, project: Project, repository: str, service: str, environment: str
) -> Running:
    """`service` in `environment` as the checkout's head has it (the environment's manifests
    committed to the checkout's branch)."""
    first = project.environments[0].name == environment
    path = project.manifest_path(service, environment)
    pinned = _pinned(checkout, repository, service, "" if first else environment)
    try:
        text = checkout.read(path)
    except UnsafePath as exc:
        return Running(why_not=str(exc), pinned=pinned)
    if text is None:
        return Running(why_not=f"{path} does not exist on {checkout.branch}", pinned=pinned)
    try:
        image = read_image(
            text, service, project.services[service], project.image_repository(service)
        )
    except ManifestError as exc:
        return Running(why_not=f"{path}: {exc}", pinned=pinned)
    newest = checkout.log(path, limit=1)
    deployed = trailers_of(newest, environment, first).get(service)
    if deployed is None:
        last = f"its last change ({newest[0].sha[:7]})" if newest else "it"
        return Running(
            image=image,
            why_not=f"{path} holds {image}, and {last} is not a Shipline deploy of {service} "
            f"to {environment}",
            pinned=pinned,
        )
    return Running(
        image=image, repository=deployed.repository, commit=deployed.commit, pinned=pinned
    )


def _pinned(checkout: Checkout, repository: str, service: str, environment: str) -> bool:
    """Pins are per environment ("": the first one's): a rollback in one holds it alone."""
    try:
        where = f"{PINS_FILE} on {checkout.branch}"
        pins = parse_pins(checkout.read(PINS_FILE), where, environment)
    except PermanentError:
        return True  # an unreadable pins file holds every service, as for deploys
    return (repository, service) in pins


def services_in(
    checkout: Checkout, project: Project, repository: str, environment: str
) -> dict[str, Running]:
    return {
        service: running_in(checkout, project, repository, service, environment)
        for service in sorted(project.services)
    }


def view_of(
    project: Project, repository: str, commit: str, runs: Mapping[str, Mapping[str, Running]]
) -> EnvironmentsView:
    """The view of every environment, its services as `runs` has them (none when absent)."""
    views = tuple(
        EnvironmentView(
            name=environment.name,
            source=environment.source,
            releases=environment.releases,
            services=dict(runs.get(environment.name, {})),
        )
        for environment in project.environments
    )
    return EnvironmentsView(repository=repository, commit=commit, environments=views)


def surveyed(target: Target, commits: GitopsCommits) -> dict[str, dict[str, Running]]:
    """What each environment runs, each read on its own gitops branch's head (synced under
    that branch's lock, one read per branch)."""
    places: dict[Path, tuple[Target, list[str]]] = {}
    for environment in target.project.environments:
        place = target.for_environment(environment.name)
        places.setdefault(place.checkout.path, (place, []))[1].append(environment.name)
    runs: dict[str, dict[str, Running]] = {}
    for place, names in places.values():
        read: Prepare[dict[str, dict[str, Running]]] = partial(_read, place, names)
        found = commits.commit(place, read)
        runs.update(found)
    return runs


def _read(place: Target, names: list[str]) -> Finished[dict[str, dict[str, Running]]]:
    project, repository = place.project, place.source.name
    return Finished(
        {name: services_in(place.checkout, project, repository, name) for name in names}
    )


def record_environments(
    targets: Targets,
    commits: GitopsCommits,
    store: EnvironmentsStore,
    repository: str,
    commit: str,
) -> None:
    """Records what each environment of `repository` runs for the gateway, after a commit,
    each environment read on its own gitops branch; `commit`: the source commit whose
    shipline.yaml says the environments (the survey's, fetched already). A failure is
    logged, never the stage's (the gateway then lets the committer decide)."""
    try:
        target = targets.find(repository, commit)
        if not target.project.environments:
            store.forget(repository)
            return
        runs = surveyed(target, commits)
        store.record(view_of(target.project, repository, target.commit, runs))
    except (ShiplineError, redis.RedisError) as exc:
        get_logger().warning("environments not recorded", repository=repository, error=str(exc))
