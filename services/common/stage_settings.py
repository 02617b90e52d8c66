"""The sections of the server settings that configure one stage each: `bot`, `scanner`,
`builder`, `committer`, `reconciler` (imported into services/common/settings.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_settings import NoDecode

from services.common.scan_rules import AllowEntry, MaxCounts
from services.common.secret_files import SecretFiles

# How a stage's worker runs its tasks (`pool:`, by stage): prefork (a child process per task
# slot: Celery's default) or threads (in the worker's process: no hand-off between
# processes, the cheaper choice for stages that wait on I/O; services/common/worker.py).
WorkerPool = Literal["prefork", "threads"]
StageName = Literal["detector", "builder", "scanner", "committer", "notifier", "verifier"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# An OCI repository as Trivy's --db-repository takes it: host[:port]/path[:tag][@digest]; the
# host is required, so a mirror is never silently looked up on Docker Hub.
_NAME = r"[A-Za-z0-9-]+"
_PORT = r":[0-9]{1,5}"
# A dotted name, localhost or an IPv6 literal, port optional; a one-label name with a port.
_HOST = rf"(?:(?:localhost|{_NAME}(?:\.{_NAME})+|\[[0-9A-Fa-f:]+\])(?:{_PORT})?|{_NAME}{_PORT})"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
OCI_REPOSITORY = re.compile(
    rf"{_HOST}(?:/{_PATH})+(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?"
)


def _repositories(value: object) -> object:
    """A list, a JSON list (from the environment), or one reference or several separated by
    commas, as Trivy's flag reads them."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        return json.loads(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _oci_repository(value: str) -> str:
    if not OCI_REPOSITORY.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an OCI repository reference: host[:port]/path[:tag], "
            "e.g. mirror.example.com/aquasec/trivy-db:2"
        )
    return value


OciRepositories = Annotated[
    list[Annotated[str, AfterValidator(_oci_repository)]], NoDecode, BeforeValidator(_repositories)
]


class BotIdentity(_Section):
    name: str = "Shipline Bot"
    email: str = "shipline-bot@localhost"


class ScannerSettings(_Section, SecretFiles):
    secret_keys = ("server_token",)

    trivy_path: str | None = None
    scanners: list[Literal["vuln", "secret", "misconfig"]] = ["secret"]
    timeout_seconds: int = Field(default=300, gt=0)
    cache_dir: Path | None = None
    offline: bool = True  # never download the vulnerability DB; the operator prepares cache_dir
    server_url: str | None = Field(default=None, pattern=r"^https?://")  # Trivy server mode
    server_token: SecretStr | None = None
    # Mirrors of Trivy's databases, tried in order (Trivy's --db-repository/--java-db-repository);
    # empty: Trivy's own (mirror.gcr.io, then ghcr.io), which rate-limit.
    db_repository: OciRepositories = []
    java_db_repository: OciRepositories = []
    # The global scan policy; shipline.yaml `scan:` blocks override it (services/scanner/policy.py).
    block_severities: list[Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]] = ["CRITICAL"]
    ignore_unfixed: bool = False
    max_counts: MaxCounts = {}
    allow_secrets: bool = False
    allowlist: list[AllowEntry] = []


class BuilderSettings(_Section):
    # One build, context to last push; visibility_timeout must outlast it (timeouts.py).
    timeout_seconds: int = Field(default=600, gt=0)
    cache_from: bool = True  # pull the service's previous image as the layer cache source
    insecure_registries: list[str] = []  # registry hosts reached over plain HTTP (loopback is)
    backend: Literal["buildkit", "classic"] = "buildkit"  # the engine's builder (classic: v1)
    # The context sent to the engine, after .dockerignore; streamed through a temporary file.
    max_context_bytes: int = Field(default=2 * 1024**3, gt=0)


class CommitterSettings(_Section):
    # How long a write waits for the gitops branch's lock (another committer writing);
    # counted in the committer's longest task (services/common/timeouts.py).
    lock_wait_seconds: int = Field(default=300, gt=0)


class ReconcilerSettings(_Section):
    """`reconciler:`: the pass that re-sends lost messages (services/reconciler/)."""

    enabled: bool = True
    period_seconds: float = Field(default=30.0, gt=0, le=60)  # and soon after every new run
    runs_per_pass: int = Field(default=100, ge=1)  # in-flight runs looked at per pass
    events_per_run: int = Field(default=1000, ge=1)  # a run's newest events read per pass
    # A service behind whose last build failed on an outage is built again at the default
    # branch's head, after retry_first_seconds doubling up to retry_max_seconds
    retry_failed: bool = True
    retry_first_seconds: float = Field(default=60.0, gt=0)
    retry_max_seconds: float = Field(default=1800.0, gt=0)
    retries_per_pass: int = Field(default=3, ge=1)  # services started per pass, one run each repo
    # Every repository's services behind its default branch that Redis has no build of (a
    # data loss) are built at the head; 0: never (services/reconciler/sweep.py)
    sweep_seconds: float = Field(default=300.0, ge=0)
