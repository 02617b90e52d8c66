"""What each environment runs, read from the gitops checkout at its head: per service, the
image its environment's manifest holds and, when the newest change to that manifest is a
Shipline commit to that environment, the source commit it names (its `Shipline-Deployed`
trailer; services/detector/environment_runs.py). A manifest last changed by anything else
(a person's commit, a rollback to an image of unknown source) runs nothing promotable.

The committer promotes from it (promote.py) and, after each commit, records it for the
gateway (services/common/environment_view.py).
"""

from __future__ import annotations

import redis

from services.committer.formats import read_image
from services.committer.gitops_commit import Finished, GitopsCommits
from services.committer.pins_file import PINS_FILE, parse_pins
from services.committer.targets import Targets
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


def environments_view(
    checkout: Checkout, project: Project, repository: str, commit: str
) -> EnvironmentsView:
    """Every environment committed to the checkout's branch, every service in it; an
    environment with its own gitops branch is listed without services (not promotable yet)."""
    views = []
    for environment in project.environments:
        own = project.gitops_for(environment.name) != project.gitops_for(None)
        services = (
            {}
            if own
            else {
                service: running_in(checkout, project, repository, service, environment.name)
                for service in sorted(project.services)
            }
        )
        views.append(
            EnvironmentView(
                name=environment.name,
                source=environment.source,
                releases=environment.releases,
                services=services,
            )
        )
    return EnvironmentsView(repository=repository, commit=commit, environments=tuple(views))


def record_environments(
    targets: Targets,
    commits: GitopsCommits,
    store: EnvironmentsStore,
    repository: str,
    commit: str,
) -> None:
    """Records what each environment of `repository` runs for the gateway, after a commit;
    `commit`: the source commit whose shipline.yaml says the environments (the survey's,
    fetched already). A failure is logged, never the stage's (the gateway then lets the
    committer decide)."""
    try:
        target = targets.find(repository, commit)
        if not target.project.environments:
            store.forget(repository)
            return
        view = commits.commit(
            target,
            lambda: Finished(
                environments_view(target.checkout, target.project, repository, target.commit)
            ),
        )
        store.record(view)
    except (ShiplineError, redis.RedisError) as exc:
        get_logger().warning("environments not recorded", repository=repository, error=str(exc))
