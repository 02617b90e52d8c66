"""The monorepo's own ``shipline.yaml``: which services exist and what rebuilds them."""

from __future__ import annotations

import posixpath
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.common.errors import ConfigError
from services.common.settings import explain_validation

PROJECT_FILE = "shipline.yaml"
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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSpec(_Section):
    path: RepoPath
    depends_on: tuple[RepoPath, ...] = ()
    dockerfile: RepoPath | None = None
    context: RepoPath | None = None
    manifest: RepoPath | None = None
    container: str | None = None

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


class Project(_Section):
    registry: str = Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$")
    gitops: GitOps = GitOps()
    services: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")], ServiceSpec
    ]

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


def parse_project(text: str | bytes, origin: str = PROJECT_FILE) -> Project:
    """Parse shipline.yaml, raising ConfigError that names the file and the key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping with 'registry' and 'services'")
    try:
        return Project.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {explain_validation(exc)}") from None


def _dir(path: str) -> str:
    return path.rstrip("/")


def _under(changed: str, prefix: str) -> bool:
    prefix = _dir(prefix)
    return changed == prefix or changed.startswith(prefix + "/")
