"""The monorepo's own ``shipline.yaml``: which services exist and what rebuilds them."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from services.common.environments import (
    MAX_ENVIRONMENTS,
    PLACEHOLDER,
    Environment,
    EnvironmentName,
    environment_problems,
    resolve,
)
from services.common.errors import ConfigError
from services.common.scan_rules import ScanRules
from services.common.validation_messages import validation_problems

PROJECT_FILE = "shipline.yaml"
MAX_PATTERNS = 256  # entries of `ignore` and of `global_paths`
MAX_PATTERN_LENGTH = 256
_SAFE_PATH_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")


def _repo_path(value: str) -> str:
    """A path inside the repository: relative, normalised, no '..', no odd characters."""
    if not value or value.startswith("/") or "\\" in value:
        raise ValueError("must be a relative path inside the repository")
    if not set(value) <= _SAFE_PATH_CHARS:
        raise ValueError("may only hold letters, digits, '.', '_', '-' and '/'")
    if ".." in value.split("/"):
        raise ValueError("must not contain '..'")
    return value


RepoPath = Annotated[str, AfterValidator(_repo_path)]


def _manifest_template(value: str) -> str:
    """A manifest's path, which may name the environment: `k8s/overlays/{environment}/...`."""
    plain = value.replace(PLACEHOLDER, "environment")
    if "{" in plain or "}" in plain:
        raise ValueError(f"may hold {PLACEHOLDER} and no other '{{' or '}}'")
    _repo_path(plain)
    return value


ManifestPath = Annotated[str, AfterValidator(_manifest_template)]


def _path_glob(value: str) -> str:
    """A path pattern: a path's characters plus '*' and '?' (see services/detector/paths.py)."""
    if not value or value.startswith("/") or "\\" in value:
        raise ValueError("must be a relative path pattern inside the repository")
    if not set(value) <= _SAFE_PATH_CHARS | {"*", "?"}:
        raise ValueError("may only hold letters, digits, '.', '_', '-', '/', '*' and '?'")
    if ".." in value.split("/"):
        raise ValueError("must not contain '..'")
    return value


def _tag_pattern(value: str) -> str:
    if not value or not set(value) <= _SAFE_PATH_CHARS | {"*", "?"}:
        raise ValueError("must be a tag glob of letters, digits, '.', '_', '-', '/', '*', '?'")
    return value


PathGlob = Annotated[str, Field(max_length=MAX_PATTERN_LENGTH), AfterValidator(_path_glob)]
TagPattern = Annotated[str, AfterValidator(_tag_pattern)]


def _build_arg_value(value: object) -> object:
    """YAML scalars as `docker build --build-arg` takes them: true -> "true", 3 -> "3"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


BuildArgName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
BuildArgValue = Annotated[str, BeforeValidator(_build_arg_value), Field(max_length=4096)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


KeyPath = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")]


class HelmKeys(_Section):
    """Where a Helm values file keeps the image (dotted key paths)."""

    repository: KeyPath | None = "image.repository"  # None: the values hold no repository
    tag: KeyPath = "image.tag"
    digest: KeyPath | None = None  # set: the digest goes here; else a pin goes into the tag


class ServiceEnvironment(_Section):
    """A service's settings for one environment (`services.<name>.environments.<env>`)."""

    manifest: ManifestPath  # instead of the service's `manifest` there


class ServiceSpec(_Section):
    path: RepoPath
    depends_on: tuple[RepoPath, ...] = ()
    dockerfile: RepoPath | None = None
    context: RepoPath | None = None
    manifest: ManifestPath | None = None
    container: str | None = None
    scan: ScanRules | None = None  # this service's overrides of the scan policy
    # `docker build --build-arg`s: stored in the image's history, so never put secrets here.
    build_args: dict[BuildArgName, BuildArgValue] = {}
    target: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    # RUN steps get no network unless asked for; then the engine's bridge, never the host's.
    network: bool = False
    # How the committer writes the image (services/committer/formats.py); None: read from
    # the file (a `kind: Kustomization` is kustomize, anything else kubernetes).
    format: Literal["kubernetes", "kustomize", "helm"] | None = None
    image_name: str | None = Field(default=None, max_length=255)  # kustomize images[].name
    helm: HelmKeys = HelmKeys()
    pin_digest: bool = False  # write image:tag@sha256:... so the tag cannot move under it
    # A rollout the verifier finds failed is reverted to the previous image (and pinned).
    auto_rollback: bool = False
    environments: dict[EnvironmentName, ServiceEnvironment] = {}

    def build_context(self) -> str:
        return _dir(self.context or self.path)

    def dockerfile_in_context(self) -> str:
        """The Dockerfile's path relative to the build context, as docker build wants it."""
        dockerfile = self.dockerfile or posixpath.join(self.path, "Dockerfile")
        context = self.build_context()
        relative = posixpath.relpath(dockerfile, context or ".")
        if relative == ".." or relative.startswith("../"):
            raise ValueError(f"dockerfile {dockerfile} lies outside the context {context}/")
        return relative

    def watches(self, changed: str) -> str | None:
        """'paths' or 'dependency' when a changed file rebuilds this service, else None."""
        if _under(changed, self.path):
            return "paths"
        if any(_under(changed, dep) for dep in self.depends_on):
            return "dependency"
        return None


class GitOps(_Section):
    branch: str = "main"
    repository: str | None = None
    changelog: RepoPath | None = None  # release notes are prepended here (in the gitops repo)


class Project(_Section):
    registry: str = Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$")
    gitops: GitOps = GitOps()
    services: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")], ServiceSpec
    ]
    release_tags: tuple[TagPattern, ...] = ("v*.*.*",)  # tags that build every service
    # changes here rebuild every service
    global_paths: tuple[RepoPath, ...] = Field(default=(), max_length=MAX_PATTERNS)
    # changes matching these rebuild nothing
    ignore: tuple[PathGlob, ...] = Field(default=(), max_length=MAX_PATTERNS)
    scan: ScanRules | None = None  # every service's overrides of the server's scan policy
    # In promotion order; none: one place to deploy to, as before environments existed.
    environments: tuple[Environment, ...] = Field(default=(), max_length=MAX_ENVIRONMENTS)

    @model_validator(mode="after")
    def _dockerfiles_inside_contexts(self) -> Project:
        for name, spec in self.services.items():
            try:
                spec.dockerfile_in_context()
            except ValueError as exc:
                raise ValueError(f"services.{name}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _environments_fit(self) -> Project:
        problems = environment_problems(self, _repo_path)
        if problems:
            raise KeyedProblems(problems)
        return self

    def image_repository(self, service: str) -> str:
        return f"{self.registry}/{service}"

    @property
    def first_environment(self) -> Environment | None:
        """Where pushes to deploy branches land; None without `environments:`."""
        return self.environments[0] if self.environments else None

    def environment(self, name: str) -> Environment:
        for environment in self.environments:
            if environment.name == name:
                return environment
        known = ", ".join(environment.name for environment in self.environments) or "none"
        raise ConfigError(f"{PROJECT_FILE}: no environment {name!r} (there are: {known})")

    def manifest_path(self, service: str, environment: str | None = None) -> str:
        """The service's manifest in `environment`; None: where a push deploys (the first
        environment, or the one manifest when there are no environments)."""
        spec = self.services[service]
        template = spec.manifest or default_manifest(service)
        if environment is None:
            if not self.environments:
                return template
            environment = self.environments[0].name
        self.environment(environment)  # raises for a name shipline.yaml does not have
        override = spec.environments.get(environment)
        return resolve(override.manifest if override else template, environment)

    def manifest_paths(
        self, service: str, where: Literal["anywhere", "repository", "branch"] = "anywhere"
    ) -> tuple[str, ...]:
        """The service's manifest in every environment, the first environment's first, each
        path once. `repository`: only the environments committed to the top-level gitops
        repository; `branch`: to its branch too, as the first environment always is."""
        if not self.environments:
            return (self.manifest_path(service),)
        paths = (
            self.manifest_path(service, environment.name)
            for environment in self.environments
            if where == "anywhere" or self._committed_with_first(environment, where == "branch")
        )
        return tuple(dict.fromkeys(paths))

    def _committed_with_first(self, environment: Environment, same_branch: bool) -> bool:
        own = self.gitops_for(environment.name)
        same_repository = own.repository == self.gitops.repository
        return same_repository and (not same_branch or own.branch == self.gitops.branch)

    def gitops_for(self, environment: str | None = None) -> GitOps:
        """Where `environment`'s manifests are committed: its own `gitops:` over the project's."""
        if environment is None or not self.environments:
            return self.gitops
        own = self.environment(environment).gitops
        return self.gitops.model_copy(
            update={
                "repository": own.repository or self.gitops.repository,
                "branch": own.branch or self.gitops.branch,
            }
        )


class KeyedProblems(ValueError):
    """Rules across keys broken, each (key, what is wrong): read_project reports them so."""

    def __init__(self, problems: list[Invalid]) -> None:
        super().__init__("; ".join(_phrase(*problem) for problem in problems))
        self.problems = problems


def default_manifest(service: str) -> str:
    return f"k8s/manifests/{service}/deployment.yaml"


# Fields that change nothing a run does before the rollout (the verifier reads them after).
_AFTER_THE_ROLLOUT = frozenset({"auto_rollback"})


def effective_entry(name: str, spec: ServiceSpec) -> dict[str, object]:
    """A service's entry with every default spelt out and paths normalised: two entries that
    build, scan and deploy the same way compare equal however they are written."""
    entry = spec.model_dump(exclude=set(_AFTER_THE_ROLLOUT))
    entry.update(
        path=_dir(spec.path),
        depends_on=sorted({_dir(dep) for dep in spec.depends_on}),
        context=spec.build_context(),
        dockerfile=spec.dockerfile or posixpath.join(_dir(spec.path), "Dockerfile"),
        manifest=spec.manifest or default_manifest(name),
        container=spec.container or name,
    )
    return entry


@dataclass(frozen=True)
class Entries:
    """What a shipline.yaml says about each service, read entry by entry: an invalid entry (a
    typo in one service) is None and leaves the others readable."""

    registry: str | None
    services: Mapping[str, ServiceSpec | None]

    def differs(self, project: Project, name: str) -> bool:
        """Whether `name` builds or deploys differently under `project` than under these."""
        if self.registry != project.registry:
            return True
        old = self.services.get(name)
        new = project.services[name]
        return old is None or effective_entry(name, old) != effective_entry(name, new)


def entries_of(text: str | bytes) -> Entries | None:
    """The entries of a shipline.yaml, valid or not; None when it is no YAML mapping."""
    parsed = _parse(text)
    if isinstance(parsed, Project):
        return Entries(parsed.registry, parsed.services)
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    registry = data.get("registry")
    raw = data.get("services")
    services: dict[str, ServiceSpec | None] = {}
    for name, entry in (raw if isinstance(raw, dict) else {}).items():
        try:
            services[str(name)] = ServiceSpec.model_validate(entry)
        except ValidationError:
            services[str(name)] = None
    return Entries(registry if isinstance(registry, str) else None, services)


def parse_project(
    text: str | bytes, origin: str = PROJECT_FILE, max_bytes: int | None = None
) -> Project:
    """Parse shipline.yaml, raising ConfigError that names the file and the key; a file
    over `max_bytes` is refused before it is parsed (server setting limits.project_file_bytes).
    """
    parsed = read_project(text, max_bytes)
    if not isinstance(parsed, Project):
        raise ConfigError(f"{origin}: " + "; ".join(_phrase(*problem) for problem in parsed))
    return parsed


def read_project(text: str | bytes, max_bytes: int | None = None) -> Project | list[Invalid]:
    """The project, or each thing wrong with it as (key, what is wrong), the key '' for the
    file as a whole; an unknown key comes with the closest valid one."""
    if max_bytes is not None and len(text) > max_bytes:
        return [("", f"larger than the limit of {max_bytes} bytes")]
    parsed = _parse(text)
    return parsed if isinstance(parsed, Project) else list(parsed)


Invalid = tuple[str, str]


def _phrase(key: str, message: str) -> str:
    return f"{key}: {message}" if key else message


@functools.lru_cache(maxsize=32)
def _parse(text: str | bytes) -> Project | tuple[Invalid, ...]:
    """The project, or what is wrong with it. Cached on the text: a detector sees the same
    file push after push, and a Project is immutable."""
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)  # libyaml: 5x faster
    except yaml.YAMLError as exc:
        return (("", f"not valid YAML: {exc}"),)
    if not isinstance(data, dict):
        return (("", "expected a mapping with 'registry' and 'services'"),)
    try:
        return Project.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, KeyedProblems):
                return tuple(cause.problems)
        return tuple(validation_problems(exc, Project))


def _dir(path: str) -> str:
    return path.rstrip("/")


def _under(changed: str, prefix: str) -> bool:
    prefix = _dir(prefix)
    return changed == prefix or changed.startswith(prefix + "/")
