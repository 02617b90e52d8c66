"""What is deployed: every service of each configured repository, with the image its
manifest names at the gitops branch head, its last run and its pin, and, when a cluster
runs its gitops branch, what the cluster runs (`live`, as the verifier last saw it).

The manifests are read from a mirror of the gitops repository (the source repository
itself unless shipline.yaml names another), with the committer's own format readers, so
the image shown is exactly what the committer would replace next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from services.committer.formats import read_image
from services.committer.yamlsplice import ManifestError
from services.common.errors import ShiplineError
from services.common.git import Mirror
from services.common.mirrors import mirror_of
from services.common.pins import PinStore
from services.common.project import PROJECT_FILE, Project, parse_project
from services.common.runs import RunStore
from services.common.settings import GitopsRepository, Repository, Settings
from services.verifier.live import LiveStore

RUNS_SEARCHED = 1000  # how far back the last run of a service is looked for


class InventoryError(Exception):
    """A repository whose services could not be listed; the message says why."""


def list_services(
    settings: Settings, runs: RunStore, pins: PinStore, live: LiveStore | None = None
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for repo in settings.repositories:
        try:
            rows += _repository_services(settings, repo, pins)
        except (ShiplineError, InventoryError) as exc:
            errors.append({"repository": repo.name, "reason": str(exc)})
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
        for name, service in run["services"].items():
            key = (run.get("repository", ""), name)
            if key in wanted and key not in found:
                found[key] = {
                    "run_id": run_id,
                    "status": service["status"],
                    "run_status": run["status"],
                    "image": service.get("image", ""),
                    "created_at": run.get("created_at"),
                }
    return found


def _repository_services(
    settings: Settings, repo: Repository, pins: PinStore
) -> Iterable[dict[str, Any]]:
    source = _mirror(settings, repo)
    head = source.resolve(f"refs/heads/{repo.default_branch}")
    text = source.read_file(head, PROJECT_FILE) if head else None
    if head is None or text is None:
        raise InventoryError(f"no {PROJECT_FILE} on {repo.default_branch}")
    project = parse_project(text, origin=f"{repo.name}@{head[:7]}:{PROJECT_FILE}")
    gitops = _gitops_remote(settings, repo, project)
    manifests = source if gitops is repo else _mirror(settings, gitops)
    gitops_head = manifests.resolve(f"refs/heads/{project.gitops.branch}")
    if gitops_head is None:
        raise InventoryError(f"gitops branch {project.gitops.branch} of {gitops.name} not found")
    cluster = settings.cluster_for(gitops.name, project.gitops.branch)
    for name, spec in project.services.items():
        path = project.manifest_path(name)
        row: dict[str, Any] = {
            "repository": repo.name,
            "service": name,
            "image": None,
            "manifest": path,
            "gitops_repository": gitops.name,
            "gitops_commit": gitops_head,
            "cluster": cluster.name if cluster else None,
            "image_repository": project.image_repository(name),
        }
        raw = manifests.read_file(gitops_head, path)
        if raw is None:
            row["problem"] = f"{path} does not exist on {project.gitops.branch}"
        else:
            try:
                row["image"] = read_image(raw.decode(), name, spec, project.image_repository(name))
            except (ManifestError, UnicodeDecodeError) as exc:
                row["problem"] = f"{path}: {exc}"
        pin = pins.get(repo.name, name)
        row["pinned"] = pin is not None
        row["pin"] = asdict(pin) if pin else None
        yield row


def _gitops_remote(
    settings: Settings, repo: Repository, project: Project
) -> Repository | GitopsRepository:
    if project.gitops.repository is None or project.gitops.repository == repo.name:
        return repo
    remote = settings.git_remote(project.gitops.repository)
    if remote is None:
        raise InventoryError(f"gitops repository {project.gitops.repository} is not configured")
    return remote


def _mirror(settings: Settings, remote: Repository | GitopsRepository) -> Mirror:
    mirror = mirror_of(settings, remote)
    mirror.fetch()
    return mirror
