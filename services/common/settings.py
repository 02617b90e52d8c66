"""Server settings: one pydantic-settings class, built once at start-up and passed down.

Sources, strongest first: constructor arguments, ``SHIPLINE_*`` environment variables
(nested keys with ``__``, lists and maps as JSON), the YAML file named by
``SHIPLINE_CONFIG``. Invalid settings raise :class:`ConfigError` naming file and key.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from services.common.api_tokens import ApiTokenEntry, identities
from services.common.cluster_settings import ClusterSettings
from services.common.environments import EnvironmentName
from services.common.errors import ConfigError
from services.common.keyspace import DEFAULT_NAMESPACE, Keyspace
from services.common.limits import Limits
from services.common.redis_connect import parse_redis_url
from services.common.repository_settings import (
    GitopsRepository,
    RegistryCredential,
    Repository,
)
from services.common.retries import RetrySettings, check_retry_delays
from services.common.run_settings import RunsSettings
from services.common.secret_files import SecretFiles, known_value
from services.common.stage_secrets import PROCESSES, is_placeholder, missing_secrets, prod_problems
from services.common.stage_settings import (
    BotIdentity,
    BuilderSettings,
    CommitterSettings,
    ReconcilerSettings,
    ScannerSettings,
    StageName,
    WorkerPool,
)
from services.common.timeouts import check_visibility_timeout
from services.common.validation_messages import explain_validation

STAGES = ("detector", "builder", "scanner", "committer", "notifier", "verifier")
# Tasks in flight per worker when `concurrency` does not say: a verification waits on the
# cluster for up to its deadline, so the verifier serves many at once (threads).
DEFAULT_CONCURRENCY = {"verifier": 16}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- notification channels (services/notifier/channels/) ----------------------------------
# An outcome as runs and services report it: succeeded, failed, blocked, held, skipped, ...
Outcome = Annotated[str, Field(pattern=r"^[a-z][a-z_-]{0,31}$")]
GITHUB_COMMIT_URL = "https://github.com/{repository}/commit/{commit}"


class ChannelSettings(_Section, SecretFiles):
    """What every channel shares: its name and which notifications it is sent."""

    # Identifies the channel in logs, errors and the "already sent" markers; default
    # "<type>-<index>". Give one so reordering the list never resends or skips a message.
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    events: list[str] | None = ["RunCompleted"]  # None: every event the notifier gets
    services: list[str] | None = None  # names or globs ("payments-*"); None: every service
    outcomes: list[Outcome] | None = None  # None: every outcome
    # shipline.yaml environment names; None: every event, in an environment or none
    environments: list[EnvironmentName] | None = Field(default=None, min_length=1)

    def channel_name(self, index: int) -> str:
        return self.name or f"{getattr(self, 'type', 'channel')}-{index}"


def _template(value: str | None, **fields: str) -> str | None:
    """Refuse a URL template with placeholders other than ``fields`` at start-up."""
    if value is not None:
        try:
            value.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"unknown placeholder {exc}; use {sorted(fields)}") from None
    return value


class WebhookChannelSettings(ChannelSettings):
    secret_keys = ("secret",)

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", repr=False)  # sign with `secret`; no token here
    secret: SecretStr | None = None  # signs the body: X-Shipline-Signature-256
    timeout_seconds: float = Field(default=10.0, gt=0)


class LogChannelSettings(ChannelSettings):
    type: Literal["log"]
    events: list[str] | None = None


class SlackChannelSettings(ChannelSettings):
    secret_keys = ("url",)

    type: Literal["slack"]
    url: SecretStr  # the incoming-webhook URL is itself the credential
    commit_url_template: str | None = GITHUB_COMMIT_URL  # {repository} {commit} {short_commit}
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        url = known_value(value)  # a file this process cannot read: the notifier checks it
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("commit_url_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return _template(value, repository="o/r", commit="0" * 40, short_commit="0" * 7)


class GitHubStatusChannelSettings(ChannelSettings):
    secret_keys = ("token",)

    type: Literal["github_status"]
    # GitHub Enterprise Server: https://<host>/api/v3
    api_url: str = Field(default="https://api.github.com", pattern=r"^https?://")
    token: SecretStr
    context: str = Field(default="shipline", min_length=1, max_length=100)
    target_url_template: str | None = None  # the status's link, e.g. ".../api/v1/runs/{run_id}"
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("target_url_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return _template(value, run_id="r", repository="o/r", commit="0" * 40)


class EmailChannelSettings(ChannelSettings):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)
    secret_keys = ("username", "password")

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, gt=0, lt=65536)
    starttls: bool = True
    ca_file: Path | None = None  # CA bundle for the server's certificate (default: the system's)
    username: SecretStr | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from", pattern=r"^[^\r\n]+@[^\r\n]+$")
    to: list[Annotated[str, Field(pattern=r"^[^\r\n,]+@[^\r\n,]+$")]] = Field(min_length=1)
    subject_prefix: str = Field(default="[shipline]", pattern=r"^[^\r\n]*$")
    commit_url_template: str | None = GITHUB_COMMIT_URL
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("commit_url_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return _template(value, repository="o/r", commit="0" * 40, short_commit="0" * 7)

    @model_validator(mode="after")
    def _login_needs_both(self) -> EmailChannelSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


AnyChannelSettings = Annotated[
    WebhookChannelSettings
    | LogChannelSettings
    | SlackChannelSettings
    | GitHubStatusChannelSettings
    | EmailChannelSettings,
    Field(discriminator="type"),
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHIPLINE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    env: Literal["dev", "prod"] = "dev"
    # Carries the password (redis://:PASSWORD@host:6379/0); unset: `shipline up` embeds a Redis
    redis_url: str | None = Field(default=None, repr=False)
    # Starts every key Shipline keeps in Redis (services/common/keyspace.py); not Celery's
    redis_namespace: str = DEFAULT_NAMESPACE
    workdir: Path = Path.home() / ".shipline"
    repositories: list[Repository] = []
    gitops_repositories: list[GitopsRepository] = []
    registry_auth: dict[str, RegistryCredential] = {}
    notifications: list[AnyChannelSettings] = [LogChannelSettings(type="log")]
    api_tokens: list[ApiTokenEntry] = []  # a string (read and write) or {token, scopes, name}
    public_read: bool = False  # true: every read answers without a token (writes still need one)
    bot: BotIdentity = BotIdentity()
    scanner: ScannerSettings = ScannerSettings()
    builder: BuilderSettings = BuilderSettings()
    committer: CommitterSettings = CommitterSettings()
    concurrency: dict[str, Annotated[int, Field(ge=1, le=64)]] = {"builder": 2}
    pool: dict[StageName, WorkerPool] = {}  # unset: worker.DEFAULT_POOL, else the stage's own
    visibility_timeout: int = Field(default=900, gt=0)
    # dev only (refused in prod): a visibility timeout shorter than the longest task, so a
    # killed worker's task comes back within seconds; the chaos tests use it
    allow_short_visibility_timeout: bool = False
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    retry: RetrySettings = RetrySettings()  # how long transient failures are retried
    max_retries: int | None = Field(default=None, ge=0)  # unset: retry.budget_seconds decides
    log_format: Literal["auto", "json", "console"] = "auto"
    clusters: list[ClusterSettings] = []  # where rollouts are verified (verifier stage)
    limits: Limits = Limits()  # bounds on the work a push or a client can cause
    reconciler: ReconcilerSettings = ReconcilerSettings()
    runs: RunsSettings = RunsSettings()  # how long finished runs are kept

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = os.environ.get("SHIPLINE_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @model_validator(mode="after")
    def _retries_fit_the_visibility_timeout(self) -> Settings:
        check_retry_delays(self.retry, self.visibility_timeout)
        return self

    @model_validator(mode="after")
    def _tasks_fit_the_visibility_timeout(self) -> Settings:
        check_visibility_timeout(self)
        return self

    @model_validator(mode="after")
    def _no_placeholders_in_prod(self) -> Settings:
        # Only the secrets this process can read; load_settings checks that those its
        # processes use are there (services/common/stage_secrets.py).
        if self.env == "prod" and (problems := prod_problems(self)):
            raise ValueError("; ".join(problems))
        return self

    @field_validator("redis_namespace")
    @classmethod
    def _namespace_keeps_to_itself(cls, value: str) -> str:
        return Keyspace(value).namespace  # a ValueError says what a namespace may hold

    @field_validator("redis_url")
    @classmethod
    def _redis_url_requires_a_password_outside_dev(
        cls, value: str | None, info: ValidationInfo
    ) -> str | None:
        if value is None:
            return None  # `shipline up` starts an embedded Redis with a generated password
        target = parse_redis_url(value)  # a ValueError says which form it must take
        password = target.password
        if info.data.get("env") == "prod" and (not password or is_placeholder(password)):
            raise ValueError(
                "Redis must require a password in prod: start it with --requirepass "
                "(16+ random URL-safe characters) and put the password in the URL, e.g. "
                "redis://:PASSWORD@host:6379/0 or unix://:PASSWORD@/path/redis.sock?db=0; "
                "or leave redis_url unset with `shipline up`, whose embedded Redis "
                "generates one"
            )
        sentinel = target.sentinel
        if info.data.get("env") == "prod" and sentinel and not sentinel.sentinel_password:
            raise ValueError(
                "the Sentinels must require a password in prod (whoever can talk to them "
                "can name another master): set their requirepass and add "
                "&sentinel_password=SECRET to the sentinel:// URL"
            )
        return value

    @model_validator(mode="after")
    def _distinct_token_names(self) -> Settings:
        names = identities(self.api_tokens)
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"api_tokens: names must be distinct: {duplicates}")
        return self

    @model_validator(mode="after")
    def _distinct_channel_names(self) -> Settings:
        names = [channel.channel_name(i) for i, channel in enumerate(self.notifications)]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"notifications: channel names must be distinct: {duplicates}")
        return self

    def repository(self, name: str) -> Repository | None:
        return next((r for r in self.repositories if r.name == name), None)

    def git_remote(self, name: str) -> Repository | GitopsRepository | None:
        """A configured repository or gitops repository, by name."""
        return self.repository(name) or next(
            (r for r in self.gitops_repositories if r.name == name), None
        )

    def stage_concurrency(self, stage: str) -> int:
        return self.concurrency.get(stage, DEFAULT_CONCURRENCY.get(stage, 1))

    def cluster_for(self, gitops_repository: str, branch: str) -> ClusterSettings | None:
        """The cluster that runs this gitops repository and branch (first match), if any."""
        return next((c for c in self.clusters if c.serves(gitops_repository, branch)), None)

    def cluster(self, name: str) -> ClusterSettings | None:
        return next((c for c in self.clusters if c.name == name), None)

    @model_validator(mode="after")
    def _distinct_cluster_names(self) -> Settings:
        names = [cluster.name for cluster in self.clusters]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"clusters: names must be distinct: {duplicates}")
        return self


def load_settings(processes: Collection[str] = PROCESSES, **overrides: Any) -> Settings:
    """Build the settings or raise ConfigError that names the file, the key and the problem;
    the secrets `processes` use (default: all, as `shipline up` runs) must be readable."""
    origin = os.environ.get("SHIPLINE_CONFIG") or "environment (SHIPLINE_*)"
    if os.environ.get("SHIPLINE_CONFIG") and not Path(origin).is_file():
        raise ConfigError(f"{origin}: SHIPLINE_CONFIG names a file that does not exist")
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {explain_validation(exc, Settings)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    if problems := missing_secrets(settings, processes):
        raise ConfigError(f"{origin}: " + "; ".join(problems))
    return settings
