"""shipline.yaml's `environments:`: the places a service runs, in promotion order.

Pushes to deploy branches land in the first environment; every later one takes what the
environment it is promoted `from` runs. Without `environments:` a project has one unnamed
place to deploy to, exactly as before the section existed.

The model and the rules that relate environments to each other and to the services'
manifests live here; services/common/project.py reads them as part of a Project.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.common.scan_rules import ScanRules

if TYPE_CHECKING:
    from services.common.project import Project

PLACEHOLDER = "{environment}"  # in a manifest path, replaced by the environment's name
MAX_ENVIRONMENTS = 16
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")

Invalid = tuple[str, str]  # (key, what is wrong and what to do), as project.read_project gives


def _environment_name(value: str) -> str:
    """A DNS label: it becomes part of manifest paths, branch names and Kubernetes labels."""
    if not value or len(value) > 63 or not set(value) <= _NAME_CHARS:
        raise ValueError("must be 1-63 lower-case letters, digits and '-' (a DNS label)")
    if value.startswith("-") or value.endswith("-"):
        raise ValueError("must start and end with a letter or a digit (a DNS label)")
    return value


EnvironmentName = Annotated[str, AfterValidator(_environment_name)]
ClusterName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EnvironmentGitOps(_Section):
    """Where this environment's manifests are committed; None: the project's `gitops:`."""

    repository: str | None = None
    branch: str | None = Field(default=None, min_length=1, max_length=200)


class Environment(_Section):
    name: EnvironmentName
    # The environment whose running digest is promoted here; None for the first one only.
    source: EnvironmentName | None = Field(default=None, alias="from")
    approval: Literal["manual", "auto", "pull-request"] = "manual"
    releases: bool = False  # release tags deploy here (at most one environment)
    soak_seconds: int = Field(default=0, ge=0, le=7 * 24 * 3600)  # before an auto promotion
    write: Literal["commit", "pull-request"] | None = None  # None: as `approval` implies
    auto_merge: bool = False  # a pull request asks its host to merge it once checks pass
    gitops: EnvironmentGitOps = EnvironmentGitOps()
    cluster: ClusterName | None = None  # a server `clusters` entry that verifies rollouts here
    # the scan policy here, on top of each service's (keys left out inherit; allowlists add up)
    scan: ScanRules | None = None

    @property
    def write_mode(self) -> Literal["commit", "pull-request"]:
        """How a change reaches the environment's gitops branch: a commit, or a pull request
        (always for `approval: pull-request`)."""
        if self.write is not None:
            return self.write
        return "pull-request" if self.approval == "pull-request" else "commit"


def resolve(template: str, environment: str) -> str:
    return template.replace(PLACEHOLDER, environment)


def environment_problems(project: Project, check_path: Callable[[str], str]) -> list[Invalid]:
    """What is wrong with `environments:` and with the services' use of it, each keyed by
    where to fix it. `check_path`: the check every manifest path gets, run again on each
    resolved path (it raises ValueError)."""
    order = list(_order_problems(project.environments))
    if order:  # the services' paths resolve against a valid list only
        return order
    return list(_service_problems(project, check_path))


def _order_problems(environments: Sequence[Environment]) -> Iterator[Invalid]:
    seen: list[str] = []
    releasing: list[str] = []
    for index, environment in enumerate(environments):
        key = f"environments.{index}"
        if environment.name in seen:
            yield f"{key}.name", f"{environment.name!r} is already the name of an environment"
        if environment.source is None and index > 0:
            yield f"{key}.from", "missing; say which earlier environment it is promoted from"
        elif environment.source is not None and index == 0:
            yield (
                f"{key}.from",
                "the first environment is where pushes land and is promoted from nowhere; "
                "remove from:",
            )
        elif environment.source is not None and environment.source not in seen:
            yield f"{key}.from", _not_earlier(environment.source, seen, environments)
        if index == 0 and environment.gitops != EnvironmentGitOps():
            yield (
                f"{key}.gitops",
                "the first environment's manifests are where the top-level gitops: says; "
                "set repository and branch there",
            )
        if index == 0 and environment.scan is not None:
            yield (
                f"{key}.scan",
                "pushes land in the first environment under each service's scan policy; put "
                "these rules in the top-level or the service's scan:",
            )
        if environment.approval == "pull-request" and environment.write == "commit":
            yield (
                f"{key}.write",
                "approval: pull-request merges a pull request, so it cannot write: commit; "
                "remove write: or set it to pull-request",
            )
        if environment.releases:
            releasing.append(environment.name)
            if len(releasing) == 2:
                yield (
                    f"{key}.releases",
                    f"{releasing[0]!r} already takes release tags; keep releases: true on one "
                    "environment",
                )
        seen.append(environment.name)


def _service_problems(project: Project, check_path: Callable[[str], str]) -> Iterator[Invalid]:
    names = [environment.name for environment in project.environments]
    for service, spec in project.services.items():
        key = f"services.{service}"
        if not names:
            if spec.manifest is not None and PLACEHOLDER in spec.manifest:
                yield (
                    f"{key}.manifest",
                    f"{PLACEHOLDER} needs an environments: section; add one, or write the "
                    "path without it",
                )
            if spec.environments:
                yield (
                    f"{key}.environments",
                    "there is no environments: section; add one, or remove this",
                )
            continue
        unknown = [name for name in spec.environments if name not in names]
        for name in unknown:
            yield f"{key}.environments.{name}", _unknown(name, names, "an environment")
        if not unknown:
            yield from _resolved_path_problems(project, service, check_path)


def _resolved_path_problems(
    project: Project, service: str, check_path: Callable[[str], str]
) -> Iterator[Invalid]:
    """Each environment's manifest must be a safe path, and two environments writing to the
    same gitops branch must not share one file (a promotion would overwrite its source)."""
    overrides = project.services[service].environments
    written: dict[tuple[str | None, str, str], str] = {}
    for environment in project.environments:
        name = environment.name
        manifest = f"environments.{name}.manifest" if name in overrides else "manifest"
        key = f"services.{service}.{manifest}"
        path = project.manifest_path(service, name)
        try:
            check_path(path)
        except ValueError as exc:
            yield key, f"{path!r} (for {name}) {exc}"
            continue
        gitops = project.gitops_for(name)
        where = (gitops.repository, gitops.branch, path)
        if where in written:
            yield (
                key,
                f"{written[where]} and {name} would both write {path!r}; put {PLACEHOLDER} in "
                f"the path, set environments.{name}.manifest, or give the environments their "
                "own gitops branch",
            )
        written.setdefault(where, name)


def _not_earlier(source: str, seen: Sequence[str], environments: Sequence[Environment]) -> str:
    if any(environment.name == source for environment in environments):
        return (
            f"{source!r} does not come before it: environments are promoted in the order "
            "listed; name an earlier one, or move this one after it"
        )
    return _unknown(source, seen, "an earlier environment")


def _unknown(name: str, known: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"{name!r} is not {what}; did you mean {close[0]!r}?"
    listed = ", ".join(repr(known_name) for known_name in known) or "none"
    return f"{name!r} is not {what} (there are: {listed})"
