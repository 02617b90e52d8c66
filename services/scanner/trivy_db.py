"""Trivy's databases in ``scanner.cache_dir``: fetched once from the configured mirror
(``shipline scanner fetch-db``) so that scanner workers running ``offline: true`` share them
instead of each downloading from a public source that rate-limits; and what the cache's
``metadata.json`` says about their age (read by ``shipline doctor`` as well).

The vulnerability DB lives in ``<cache>/db``, the Java index DB in ``<cache>/java-db``; each
holds Trivy's ``metadata.json`` (``UpdatedAt``: when the DB was built, ``NextUpdate``: when
Trivy considers it due, ``DownloadedAt``). A failed download names the mirror it tried; a
refused or missing repository is a PermanentError, anything else (network, rate limit) a
TransientError.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import AUTH_FAILURES, MISSING_IMAGE, RegistryLogin, is_insecure
from services.common.settings import ScannerSettings
from services.scanner.trivy import db_repository_flags, locate_trivy

# Trivy's built-in sources, tried in this order when no mirror is configured.
DEFAULT_SOURCES = {
    "db": ("mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2"),
    "java-db": ("mirror.gcr.io/aquasec/trivy-java-db:1", "ghcr.io/aquasecurity/trivy-java-db:1"),
}
DbKind = Literal["db", "java-db"]
_TITLES = {"db": "vulnerability DB", "java-db": "Java DB"}
_DOWNLOAD_FLAGS = {"db": "--download-db-only", "java-db": "--download-java-db-only"}


class DbMetadata(BaseModel):
    """Trivy's ``metadata.json`` beside a database (the fields Shipline reads)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    UpdatedAt: datetime
    NextUpdate: datetime | None = None
    DownloadedAt: datetime | None = None

    @field_validator("NextUpdate", "DownloadedAt")
    @classmethod
    def _unset_as_none(cls, value: datetime | None) -> datetime | None:
        """Trivy writes an unset time as Go's zero time, 0001-01-01."""
        return None if value is not None and value.year <= 1 else value


@dataclass(frozen=True)
class FetchedDb:
    kind: DbKind
    directory: Path
    sources: tuple[str, ...]  # the repositories Trivy was told to try, in order
    metadata: DbMetadata | None


def db_directory(cache_dir: Path, kind: DbKind) -> Path:
    return cache_dir / kind


def read_metadata(cache_dir: Path, kind: DbKind = "db") -> DbMetadata | None:
    """The database's metadata, or None when there is none (or it is unreadable)."""
    path = db_directory(cache_dir, kind) / "metadata.json"
    try:
        return DbMetadata.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def sources(settings: ScannerSettings, kind: DbKind) -> tuple[str, ...]:
    """The repositories Trivy downloads `kind` from: the configured mirrors, else its own."""
    configured = settings.db_repository if kind == "db" else settings.java_db_repository
    return tuple(configured) or DEFAULT_SOURCES[kind]


def describe_sources(settings: ScannerSettings, kind: DbKind = "db") -> str:
    configured = settings.db_repository if kind == "db" else settings.java_db_repository
    names = ", ".join(sources(settings, kind))
    return f"mirror {names}" if configured else f"Trivy's default source ({names})"


def fetch_command(
    binary: str, cache_dir: Path, settings: ScannerSettings, kind: DbKind
) -> list[str]:
    """Trivy's argv that downloads (or refreshes) only `kind` into `cache_dir`."""
    db = settings.db_repository if kind == "db" else []
    java_db = settings.java_db_repository if kind == "java-db" else []
    return [
        binary,
        "image",
        _DOWNLOAD_FLAGS[kind],
        "--quiet",
        f"--cache-dir={cache_dir}",
        f"--timeout={int(settings.timeout_seconds)}s",
        *db_repository_flags(db, java_db),
    ]


def fetch_db(
    settings: ScannerSettings,
    cache_dir: Path,
    kind: DbKind = "db",
    insecure_registries: Sequence[str] = (),
    login: RegistryLogin | None = None,
) -> FetchedDb:
    """Download `kind` from the configured mirror (else Trivy's source) into `cache_dir`;
    `login` goes to Trivy in its environment, never on its command line."""
    binary = locate_trivy(settings.trivy_path)
    tried = sources(settings, kind)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    if all(is_insecure(ref.split("/", 1)[0], insecure_registries) for ref in tried):
        env["TRIVY_INSECURE"] = "true"  # every mirror is loopback or listed as plain HTTP
    if login is not None:
        env.update(TRIVY_USERNAME=login.username, TRIVY_PASSWORD=login.password)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
    try:
        _download(binary, staging, settings, kind, tried, env, login)
        _swap_in(db_directory(staging, kind), db_directory(cache_dir, kind))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FetchedDb(kind, db_directory(cache_dir, kind), tried, read_metadata(cache_dir, kind))


def _download(
    binary: str,
    staging: Path,
    settings: ScannerSettings,
    kind: DbKind,
    tried: tuple[str, ...],
    env: dict[str, str],
    login: RegistryLogin | None,
) -> None:
    try:
        completed = subprocess.run(
            fetch_command(binary, staging, settings, kind),
            capture_output=True,
            timeout=settings.timeout_seconds + 30,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TransientError(
            f"the {_TITLES[kind]} did not arrive from {', '.join(tried)} within "
            f"{settings.timeout_seconds}s (scanner.timeout_seconds)"
        ) from None
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace")
        raise _fetch_error(kind, tried, stderr.replace(login.password, "***") if login else stderr)


def _swap_in(fetched: Path, target: Path) -> None:
    """Each file replaced by a rename, the metadata last: a scan running meanwhile keeps
    reading the database file it opened, the next one opens the new file."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(fetched.iterdir(), key=lambda path: path.name == "metadata.json")
    for path in files:
        os.replace(path, target / path.name)


def _fetch_error(kind: DbKind, tried: tuple[str, ...], stderr: str) -> Exception:
    detail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-3:])[-800:]
    lowered = detail.lower()
    message = f"could not fetch the {_TITLES[kind]} from {', '.join(tried)}: {detail}"
    if any(word in lowered for word in (*MISSING_IMAGE, *AUTH_FAILURES)):
        return PermanentError(
            message + " (check scanner.db_repository / scanner.java_db_repository and the "
            "registry_auth entry of the mirror's host)"
        )
    return TransientError(message)
