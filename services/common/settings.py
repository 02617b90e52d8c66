"""Server settings: one pydantic-settings class, built once at start-up and passed down.

Sources, strongest first: constructor arguments, ``SHIPLINE_*`` environment variables
(nested keys with ``__``, lists and maps as JSON), the YAML file named by
``SHIPLINE_CONFIG``. Invalid settings raise :class:`ConfigError` naming file and key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from services.common.errors import ConfigError

STAGES = ("detector", "builder", "scanner", "committer", "notifier")
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "password", "dev", "devsecret"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Repository(_Section):
    """A repository Shipline accepts webhooks for; only these are ever cloned."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    url: str = Field(min_length=1, repr=False)  # may embed credentials
    webhook_secret: SecretStr
    branches: list[str] | None = None
    default_branch: str = "main"

    def accepts_branch(self, branch: str) -> bool:
        return self.branches is None or branch in self.branches


class RegistryCredential(_Section):
    username: str
    password: SecretStr


class WebhookChannel(_Section):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    events: list[str] = ["RunCompleted"]
    timeout_seconds: float = 10.0


class LogChannel(_Section):
    type: Literal["log"]


Channel = Annotated[WebhookChannel | LogChannel, Field(discriminator="type")]


class BotIdentity(_Section):
    name: str = "Shipline Bot"
    email: str = "shipline-bot@localhost"


class ScannerSettings(_Section):
    trivy_path: str | None = None
    scanners: list[Literal["vuln", "secret", "misconfig"]] = ["secret"]
    timeout_seconds: int = Field(default=300, gt=0)
    cache_dir: Path | None = None
    offline: bool = True  # never download the vulnerability DB; the operator prepares cache_dir
    block_severities: list[Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]] = ["CRITICAL"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHIPLINE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    env: Literal["dev", "prod"] = "dev"
    redis_url: str | None = None
    workdir: Path = Path.home() / ".shipline"
    repositories: list[Repository] = []
    registry_auth: dict[str, RegistryCredential] = {}
    notifications: list[Channel] = [LogChannel(type="log")]
    api_tokens: list[SecretStr] = []
    bot: BotIdentity = BotIdentity()
    scanner: ScannerSettings = ScannerSettings()
    concurrency: dict[str, int] = {"builder": 2}
    visibility_timeout: int = Field(default=900, gt=0)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_retries: int = Field(default=4, ge=0)
    log_format: Literal["auto", "json", "console"] = "auto"

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
    def _no_placeholders_in_prod(self) -> Settings:
        if self.env != "prod":
            return self
        for index, repo in enumerate(self.repositories):
            if _is_placeholder(repo.webhook_secret):
                raise ValueError(f"repositories.{index}.webhook_secret is a placeholder")
        if not self.api_tokens or any(_is_placeholder(t) for t in self.api_tokens):
            raise ValueError("api_tokens must hold real tokens (16+ characters) in prod")
        return self

    def repository(self, name: str) -> Repository | None:
        return next((r for r in self.repositories if r.name == name), None)

    def stage_concurrency(self, stage: str) -> int:
        return self.concurrency.get(stage, 1)


def _is_placeholder(secret: SecretStr) -> bool:
    value = secret.get_secret_value()
    return value.lower() in PLACEHOLDER_SECRETS or len(value) < 16


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise ConfigError that names the file, the key and the problem."""
    origin = os.environ.get("SHIPLINE_CONFIG") or "environment (SHIPLINE_*)"
    if os.environ.get("SHIPLINE_CONFIG") and not Path(origin).is_file():
        raise ConfigError(f"{origin}: SHIPLINE_CONFIG names a file that does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {explain_validation(exc)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def explain_validation(exc: ValidationError) -> str:
    """Turn pydantic errors into 'key: expected ...' phrases without echoing input values."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{key}: {error['msg']}")
    return "; ".join(problems)
