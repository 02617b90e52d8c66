"""Server settings of the repositories Shipline accepts, the gitops repositories it writes and
the registry credentials it holds: the `repositories`, `gitops_repositories` and
`registry_auth` parts of the server settings."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.common.secret_files import SecretFiles


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitCredentials(_Section, SecretFiles):
    """How git authenticates to a remote (services/common/git_auth.py); never logged.

    https: `token` (or `token_file`, with `username`) goes in an Authorization header through
    git's environment, never into the URL, argv or .git/config. ssh: a private key, inline or
    as a file, with the host keys to trust (default: trust a host's key the first time;
    refused in prod)."""

    secret_keys = ("token",)

    token: SecretStr | None = None
    username: str = Field(default="x-access-token", min_length=1, max_length=100)
    ssh_key: SecretStr | None = None
    ssh_key_file: Path | None = None
    known_hosts_file: Path | None = None

    @model_validator(mode="after")
    def _one_key(self) -> GitCredentials:
        if self.ssh_key is not None and self.ssh_key_file is not None:
            raise ValueError("give ssh_key or ssh_key_file, not both")
        return self


class GitHost(_Section, SecretFiles):
    """The git host's API behind a repository (pull requests; services/githost/); never logged.

    `project` is how the host names the repository in its API: GitHub and Gitea owner/repo,
    GitLab the project's full path (group/subgroup/project). Unset: the entry's `name`."""

    secret_keys = ("token",)

    type: Literal["github", "gitlab", "gitea"]
    # GitHub: https://api.github.com (GHES: https://HOST/api/v3); GitLab: https://HOST/api/v4;
    # Gitea: https://HOST/api/v1
    api_url: str = Field(max_length=500)
    token: SecretStr = Field(repr=False)
    project: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    # Shipline as the host's users reach it, e.g. https://shipline.acme.dev: a scan's commit
    # status on GitLab and Gitea links the run's page there (unset: a status with no link)
    shipline_url: str | None = Field(default=None, max_length=500)

    @field_validator("api_url", "shipline_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", value):
            raise ValueError(
                f"{info.field_name} must be an http(s) URL with no credentials, "
                "e.g. https://api.github.com"
            )
        return value.rstrip("/")


ImagePrefix = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[a-z0-9._-]+)*/?$", max_length=255),
]


class Repository(_Section, SecretFiles):
    """A repository Shipline accepts webhooks for; only these are ever cloned."""

    secret_keys = ("webhook_secret",)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    url: str = Field(min_length=1, repr=False)  # credentials go in `credentials`, not here
    webhook_secret: SecretStr
    credentials: GitCredentials | None = None
    branches: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = None
    default_branch: str = "main"
    # Where this repository's images may go: registry host[:port] with an optional path
    # prefix, e.g. "registry.acme.dev/microbank". Unset: wherever its shipline.yaml says.
    image_registries: list[ImagePrefix] | None = None
    host: GitHost | None = None  # the git host's API (pull requests); unset: git only

    def allows_image(self, image_repository: str) -> bool:
        """The image repository lies under one of `image_registries` (whole path segments)."""
        if self.image_registries is None:
            return True
        return any(
            image_repository == prefix or image_repository.startswith(prefix.rstrip("/") + "/")
            for prefix in self.image_registries
        )

    def accepts_branch(self, branch: str) -> bool:
        """Branches that deploy: `branches` (names or globs, `*` for all), else the default one."""
        patterns = self.branches if self.branches is not None else [self.default_branch]
        return any(fnmatchcase(branch, pattern) for pattern in patterns)


class GitopsRepository(_Section):
    """A repository that only receives manifest commits (shipline.yaml `gitops.repository`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    url: str = Field(min_length=1, repr=False)
    credentials: GitCredentials | None = None
    host: GitHost | None = None  # the git host's API (pull requests); unset: git only
    # signs the host's pull-request webhooks (promotions' pull requests); unset: none accepted
    webhook_secret: SecretStr | None = Field(default=None, repr=False)


class RegistryCredential(_Section, SecretFiles):
    secret_keys = ("password",)

    username: str
    password: SecretStr
    # Token services on another host that may receive these credentials (registry.gitlab.com
    # asks gitlab.com for tokens); the registry's own host always may. Exact host[:port].
    token_realm_hosts: list[str] = []
