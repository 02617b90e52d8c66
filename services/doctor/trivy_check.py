"""Trivy: found the way the scanner finds it (services/scanner/trivy.py `locate_trivy`), runs,
and has what the configured scanners need: `vuln` needs the vulnerability DB in the cache
directory (offline: prepared by the operator) or a Trivy server; `secret` and `misconfig`
need nothing more. The DB's age is what its metadata.json says (`trivy version` reads it),
named with the source it comes from (scanner.db_repository, else Trivy's own)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.common.errors import PermanentError
from services.common.settings import ScannerSettings
from services.doctor.result import CheckResult, fail, ok, warn
from services.scanner.trivy import INSTALL_TRIVY, db_repository_flags, locate_trivy
from services.scanner.trivy_db import describe_sources

STALE_DAYS = 7  # Trivy's DB is rebuilt every few hours; a week misses that week's advisories
FETCH = "shipline scanner fetch-db"


@dataclass(frozen=True)
class TrivyFacts:
    binary: str | None = None
    missing: str | None = None  # locate_trivy's reason
    broken: str | None = None  # `trivy version` failed
    version: dict[str, Any] = field(default_factory=dict)  # `trivy version --format=json`
    server_status: int | str | None = None  # GET <server_url>/healthz (client mode)


def cache_dir(settings: ScannerSettings, workdir: Path) -> Path:
    return settings.cache_dir or workdir / "trivy-cache"  # as Trivy.from_settings


# --- adapter -------------------------------------------------------------------------------


def probe_trivy(settings: ScannerSettings, workdir: Path, timeout: float = 10.0) -> TrivyFacts:
    try:
        binary = locate_trivy(settings.trivy_path)
    except PermanentError as exc:
        return TrivyFacts(missing=str(exc).partition(f": {INSTALL_TRIVY}")[0])
    command = [binary, "version", "--format=json", f"--cache-dir={cache_dir(settings, workdir)}"]
    try:
        completed = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return TrivyFacts(binary, broken=type(exc).__name__)
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return TrivyFacts(binary, broken=f"exit {completed.returncode}: {' '.join(stderr)}"[:300])
    try:
        version = json.loads(completed.stdout)
    except json.JSONDecodeError:
        return TrivyFacts(binary, broken="`trivy version --format=json` printed no JSON")
    server_status: int | str | None = None
    if settings.server_url and "vuln" in settings.scanners:
        try:
            url = settings.server_url.rstrip("/") + "/healthz"
            server_status = httpx.get(url, timeout=timeout).status_code
        except httpx.HTTPError as exc:
            server_status = type(exc).__name__
    return TrivyFacts(
        binary, version=version if isinstance(version, dict) else {}, server_status=server_status
    )


# --- what the facts mean -----------------------------------------------------------------


def judge_trivy(
    facts: TrivyFacts, settings: ScannerSettings, cache: Path, now: datetime
) -> list[CheckResult]:
    if facts.missing is not None:
        return [fail("trivy", facts.missing, INSTALL_TRIVY)]
    if facts.broken is not None:
        return [fail("trivy", f"{facts.binary} does not run: {facts.broken}", INSTALL_TRIVY)]
    results = [ok("trivy", f"Trivy {facts.version.get('Version', '?')} at {facts.binary}")]
    results.append(_judge_db(facts, settings, cache, now))
    return results


def _judge_db(
    facts: TrivyFacts, settings: ScannerSettings, cache: Path, now: datetime
) -> CheckResult:
    name = "trivy db"
    if "vuln" not in settings.scanners:
        scanners = ", ".join(settings.scanners)
        return ok(name, f"not needed: scanner.scanners is {scanners} (no vuln)")
    if settings.server_url:
        if facts.server_status == 200:
            return ok(name, f"the Trivy server at {settings.server_url} holds it")
        return fail(
            name,
            f"the Trivy server at {settings.server_url} does not answer /healthz "
            f"({facts.server_status})",
            "start the Trivy server (trivy server) or correct scanner.server_url",
        )
    source = describe_sources(settings)
    prepare = " ".join(
        [f"trivy image --download-db-only --cache-dir {cache}"]
        + db_repository_flags(settings.db_repository, [])
    )
    db = facts.version.get("VulnerabilityDB")
    if not isinstance(db, dict):
        if settings.offline:
            return fail(
                name,
                f"no vulnerability DB in {cache} and scanner.offline is set",
                f"prepare it from {source} ({FETCH}, or {prepare}), use a Trivy server "
                "(scanner.server_url) or drop vuln from scanner.scanners",
            )
        return warn(
            name,
            f"no vulnerability DB in {cache} yet: the first scan downloads it from {source}",
            f"download it ahead ({FETCH}, or {prepare}); the scanner needs to reach {source}",
        )
    updated = _timestamp(db.get("UpdatedAt"))
    if updated is None:
        return warn(
            name, f"the DB in {cache} has no readable UpdatedAt", f"prepare it again ({prepare})"
        )
    age = (now - updated).days
    built = f"the DB in {cache} is from {updated:%Y-%m-%d} ({age} days, {source})"
    if age > STALE_DAYS and settings.offline:
        return warn(
            name,
            f"{built}: newer vulnerabilities are unknown to the scan",
            f"refresh it ({FETCH} on a schedule, or {prepare}); scanner.offline never updates it",
        )
    if age > STALE_DAYS:
        return warn(
            name,
            f"{built}: scans have not refreshed it (no scan since, or downloads fail)",
            f"check that the scanner reaches {source}, or refresh it ({FETCH})",
        )
    java = _judge_java_db(facts, settings, cache, now)
    if java is not None:
        return warn(
            name, f"vulnerability DB from {updated:%Y-%m-%d} ({age} days); {java[0]}", java[1]
        )
    return ok(name, f"vulnerability DB from {updated:%Y-%m-%d} ({age} days) in {cache}, {source}")


def _judge_java_db(
    facts: TrivyFacts, settings: ScannerSettings, cache: Path, now: datetime
) -> tuple[str, str] | None:
    """What is wrong with the Java DB, when a mirror for it is configured (else Trivy fetches
    it on the first image with jar files); None when nothing."""
    if not settings.java_db_repository:
        return None
    source = describe_sources(settings, "java-db")
    java = facts.version.get("JavaDB")
    updated = _timestamp(java.get("UpdatedAt")) if isinstance(java, dict) else None
    if updated is None:
        return f"no Java DB in {cache} ({source})", f"fetch it ({FETCH} --java)"
    if (now - updated).days > STALE_DAYS and settings.offline:
        days = (now - updated).days
        return (
            f"the Java DB is from {updated:%Y-%m-%d} ({days} days, {source})",
            f"refresh it ({FETCH} --java on a schedule)",
        )
    return None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
