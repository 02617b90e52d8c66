"""Survey a repository for the service inventory (services/common/service_inventory.py):
every service of shipline.yaml at the default branch head, with the image its manifest
names at the gitops branch head, read with the committer's own format readers, so the
image shown is exactly what the committer would replace next.

The detector surveys after a push to the default branch, the committer after each commit;
a survey that fails is recorded with its reason and never fails the stage's work. The
committer's survey also refills the pins' Redis cache from the gitops branch's pins file
(pins_file.py): after Redis lost its data, or a person edited the file by hand. (The
detector's does not: it may have read git before a pin or unpin commit it would undo.)

With a DeployedCache (both workers hand theirs in), the gitops branch's trailers are read
from the head the cache holds onwards and the state read is stored back: the detector's
own reader and cache (services/detector/deployed.py), so a survey after a deploy reads
that one commit, not the branch's whole history. Without one, or with Redis unreachable,
or after the branch was rewritten, the whole branch is read.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict

from services.committer.drift import UNKNOWN, deployed_state, drift_of
from services.committer.formats import read_image
from services.committer.pins_file import PINS_FILE, PinsFileError, all_pins
from services.committer.yamlsplice import ManifestError
from services.common.errors import ShiplineError
from services.common.git import Mirror
from services.common.logging import get_logger
from services.common.mirrors import mirror_of, project_file
from services.common.pins import Pin, PinStore
from services.common.project import PROJECT_FILE, Project, ServiceSpec, parse_project
from services.common.service_inventory import InventoryStore, ServiceRow, Survey
from services.common.settings import GitopsRepository, Repository, Settings
from services.detector.deployed import DeployedCache, DeployedState, GitopsHistory


class SurveyError(Exception):
    """A repository whose services could not be listed; the message says why."""


def survey(settings: Settings, repo: Repository, deployed: DeployedCache | None = None) -> Survey:
    """The repository's services as git says now (fetches its mirrors)."""
    return _survey(settings, repo, deployed, None)[0]


def _survey(
    settings: Settings, repo: Repository, cache: DeployedCache | None, fetched_at: float | None
) -> tuple[Survey, list[Pin] | None]:
    """The survey, and the repository's pins in the gitops branch's pins file (None: the
    file cannot be read; the reason is logged). `fetched_at`: the source's mirror was
    fetched then (not fetched again); the survey is as of then."""
    # a survey that read older git must not replace a newer one
    started = time.time() if fetched_at is None else fetched_at
    source = mirror_of(settings, repo) if fetched_at is not None else _fetched(settings, repo)
    head = source.resolve(f"refs/heads/{repo.default_branch}")
    text = project_file(source, head) if head else None  # the detection's read, if it was
    if head is None or text is None:
        raise SurveyError(f"no {PROJECT_FILE} on {repo.default_branch}")
    project = parse_project(text, origin=f"{repo.name}@{head[:7]}:{PROJECT_FILE}")
    gitops = _gitops_remote(settings, repo, project)
    manifests = source if gitops is repo else _fetched(settings, gitops)
    gitops_head = manifests.resolve(f"refs/heads/{project.gitops.branch}")
    if gitops_head is None:
        raise SurveyError(f"gitops branch {project.gitops.branch} of {gitops.name} not found")
    cluster = settings.cluster_for(gitops.name, project.gitops.branch)
    deployed = _deployed(manifests, gitops.name, project.gitops.branch, cache)
    drift = drift_of(source, project, repo.name, head, deployed, manifests is source)
    paths = {name: project.manifest_path(name) for name in project.services}
    files = manifests.read_files(gitops_head, [*dict.fromkeys(paths.values()), PINS_FILE])
    rows = []
    for name, spec in project.services.items():
        path = paths[name]
        image, problem = None, None
        raw = files[path]
        if raw is None:
            problem = f"{path} does not exist on {project.gitops.branch}"
        else:
            try:
                written, repository = raw.decode(), project.image_repository(name)
                image = _image_of(written, name, spec.model_dump_json(), repository)
            except (ManifestError, UnicodeDecodeError) as exc:
                problem = f"{path}: {exc}"
        rows.append(
            ServiceRow(
                service=name,
                image=image,
                manifest=path,
                gitops_repository=gitops.name,
                gitops_commit=gitops_head,
                cluster=cluster.name if cluster else None,
                image_repository=project.image_repository(name),
                problem=problem,
                **asdict(drift.get(name, UNKNOWN)),
            )
        )
    found = Survey(repository=repo.name, commit=head, surveyed_at=started, services=tuple(rows))
    return found, _pins(files[PINS_FILE], repo.name, project)


@functools.lru_cache(maxsize=4096)
def _image_of(text: str, service: str, spec: str, image_repository: str) -> str:
    """read_image, remembered: the survey after each commit reads every manifest again, and
    all but the committed ones are as they were (a 200-service survey parsed 200 YAMLs)."""
    return read_image(text, service, ServiceSpec.model_validate_json(spec), image_repository)


def _pins(raw: bytes | None, repository: str, project: Project) -> list[Pin] | None:
    where = f"{PINS_FILE} on {project.gitops.branch}"
    try:
        pins = all_pins(raw.decode() if raw is not None else None, where)
    except (PinsFileError, UnicodeDecodeError) as exc:
        get_logger().warning("pins not cached", repository=repository, error=str(exc))
        return None
    held = [pin for pin in pins if pin.repository == repository]
    return sorted(held, key=lambda pin: (pin.environment, pin.service))


def _deployed(
    mirror: GitopsHistory, gitops: str, branch: str, cache: DeployedCache | None
) -> DeployedState | None:
    """The trailers' state, from the cached one onwards; a new state is cached."""
    known = cache.get(gitops, branch) if cache is not None else None
    state = deployed_state(mirror, branch, known)
    if cache is not None and state is not None and state != known:
        cache.put(gitops, branch, state)
    return state


def resurvey(
    settings: Settings,
    store: InventoryStore,
    repository: str,
    pins: PinStore | None = None,
    deployed: DeployedCache | None = None,
    fetched_at: float | None = None,
) -> Survey | None:
    """Survey a configured repository and record it; a failure is recorded as the reason,
    beside the services the survey before found. Never raises for git or the manifests.
    With `pins`, the repository's cached pins become those of the pins file; with
    `deployed`, the gitops trailers are read from its cached state onwards. With
    `fetched_at` (when a fetch of the repository's mirror that finished began, the
    detector's for the push it handles), that mirror is not fetched again: the survey
    is as of then, so it never replaces one that read newer git."""
    repo = settings.repository(repository)
    if repo is None:
        return None
    started = time.time() if fetched_at is None else fetched_at
    try:
        found, pinned = _survey(settings, repo, deployed, fetched_at)
        if pins is not None and pinned is not None:
            pins.replace(repository, pinned)
    except (ShiplineError, SurveyError) as exc:
        get_logger().warning(
            "service inventory not refreshed", repository=repository, error=str(exc)
        )
        before = store.read(repository)
        found = Survey(
            repository=repository,
            commit=before.commit if before else "",
            surveyed_at=started,
            services=before.services if before else (),
            error=str(exc),
        )
    store.record(found)
    return found


def _gitops_remote(
    settings: Settings, repo: Repository, project: Project
) -> Repository | GitopsRepository:
    if project.gitops.repository is None or project.gitops.repository == repo.name:
        return repo
    remote = settings.git_remote(project.gitops.repository)
    if remote is None:
        raise SurveyError(f"gitops repository {project.gitops.repository} is not configured")
    return remote


def _fetched(settings: Settings, remote: Repository | GitopsRepository) -> Mirror:
    mirror = mirror_of(settings, remote)
    mirror.fetch()
    return mirror
