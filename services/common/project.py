"""The monorepo's own ``shipline.yaml``: which services exist and what rebuilds them."""

from __future__ import annotations

import functools
import posixpath
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

from services.common.errors import ConfigError
from services.common.scan_rules import ScanRules
from services.common.settings import explain_validation

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


class ServiceSpec(_Section):
    path: RepoPath
    depends_on: tuple[RepoPath, ...] = ()
    dockerfile: RepoPath | None = None
    context: RepoPath | None = None
    manifest: RepoPath | None = None
    container: str | None = None
    scan: ScanRules | None = None  # this service's overrides of the scan policy
    # `docker build --build-arg`s: stored in the image's history, so never put secrets here.
    build_args: dict[BuildArgName, BuildArgValue] = {}
    target: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    # RUN steps get no network unless asked for; then the engine's bridge, never the host's.
    network: bool = False
    # How the committer writes the image (services/committer/formats.py).
    format: Literal["kubernetes", "kustomize", "helm"] = "kubernetes"
    image_name: str | None = Field(default=None, max_length=255)  # kustomize images[].name
    helm: HelmKeys = HelmKeys()
    pin_digest: bool = False  # write image:tag@sha256:... so the tag cannot move under it
    # A rollout the verifier finds failed is reverted to the previous image (and pinned).
    auto_rollback: bool = False

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

    @model_validator(mode="after")
    def _dockerfiles_inside_contexts(self) -> Project:
        for name, spec in self.services.items():
            try:
                spec.dockerfile_in_context()
            except ValueError as exc:
                raise ValueError(f"services.{name}: {exc}") from None
        return self

    def image_repository(self, service: str) -> str:
        return f"{self.registry}/{service}"

    def manifest_path(self, service: str) -> str:
        return self.services[service].manifest or f"k8s/manifests/{service}/deployment.yaml"


def parse_project(
    text: str | bytes, origin: str = PROJECT_FILE, max_bytes: int | None = None
) -> Project:
    """Parse shipline.yaml, raising ConfigError that names the file and the key; a file
    over `max_bytes` is refused before it is parsed (server setting limits.project_file_bytes).
    """
    if max_bytes is not None and len(text) > max_bytes:
        raise ConfigError(f"{origin}: larger than the limit of {max_bytes} bytes")
    parsed = _parse(text)
    if isinstance(parsed, str):
        raise ConfigError(f"{origin}: {parsed}")
    return parsed


@functools.lru_cache(maxsize=32)
def _parse(text: str | bytes) -> Project | str:
    """The project, or what is wrong with it. Cached on the text: a detector sees the same
    file push after push, and a Project is immutable."""
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)  # libyaml: 5x faster
    except yaml.YAMLError as exc:
        return f"not valid YAML: {exc}"
    if not isinstance(data, dict):
        return "expected a mapping with 'registry' and 'services'"
    try:
        return Project.model_validate(data)
    except ValidationError as exc:
        return explain_validation(exc)


def _dir(path: str) -> str:
    return path.rstrip("/")


def _under(changed: str, prefix: str) -> bool:
    prefix = _dir(prefix)
    return changed == prefix or changed.startswith(prefix + "/")
