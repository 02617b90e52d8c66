"""`shipline doctor`'s "trivy db" line: the DB's age from the cache's metadata.json (read by
the real `trivy version`), the source it comes from (scanner.db_repository or Trivy's own),
the Java DB when a mirror for it is configured."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.settings import ScannerSettings
from services.doctor.trivy_check import TrivyFacts, judge_trivy, probe_trivy

NOW = datetime(2026, 12, 6, tzinfo=UTC)
CACHE = Path("/var/cache/trivy")
MIRROR = "registry.lan:5000/aquasec/trivy-db:2"
JAVA_MIRROR = "registry.lan:5000/aquasec/trivy-java-db:1"


def cache_with_metadata(cache: Path, updated: datetime, kind: str = "db") -> Path:
    stamp = updated.strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {"Version": 2 if kind == "db" else 1, "UpdatedAt": stamp, "NextUpdate": stamp}
    (cache / kind).mkdir(parents=True, exist_ok=True)
    (cache / kind / "metadata.json").write_text(json.dumps({**metadata, "DownloadedAt": stamp}))
    return cache


def facts(updated: str | None, java_updated: str | None = None) -> TrivyFacts:
    version: dict[str, object] = {"Version": "0.59.1"}
    if updated:
        version["VulnerabilityDB"] = {"Version": 2, "UpdatedAt": updated}
    if java_updated:
        version["JavaDB"] = {"Version": 1, "UpdatedAt": java_updated}
    return TrivyFacts("/usr/bin/trivy", version=version)


def test_a_cache_whose_metadata_is_ten_days_old_warns_with_its_age_and_the_mirror(
    trivy_path: Path, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    cache = cache_with_metadata(tmp_path / "cache", now - timedelta(days=10, hours=1))
    settings = ScannerSettings(
        trivy_path=str(trivy_path), scanners=["vuln"], cache_dir=cache, db_repository=MIRROR
    )

    db = judge_trivy(probe_trivy(settings, tmp_path), settings, cache, now)[1]

    assert db.status == "warn"
    assert f"is from {now - timedelta(days=10, hours=1):%Y-%m-%d} (10 days, mirror {MIRROR})" in (
        db.detail
    )
    assert "shipline scanner fetch-db on a schedule" in (db.fix or "")


def test_a_fresh_cache_is_ok_and_names_trivys_default_source_without_a_mirror(
    trivy_path: Path, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    cache = cache_with_metadata(tmp_path / "cache", now - timedelta(hours=5))
    settings = ScannerSettings(trivy_path=str(trivy_path), scanners=["vuln"], cache_dir=cache)

    db = judge_trivy(probe_trivy(settings, tmp_path), settings, cache, now)[1]

    assert db.status == "ok"
    assert f"vulnerability DB from {now - timedelta(hours=5):%Y-%m-%d} (0 days) in {cache}" in (
        db.detail
    )
    assert "Trivy's default source (mirror.gcr.io/aquasec/trivy-db:2" in db.detail


def test_a_cache_without_metadata_fails_offline_saying_to_fetch_it_from_the_mirror(
    trivy_path: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    settings = ScannerSettings(
        trivy_path=str(trivy_path), scanners=["vuln"], cache_dir=empty, db_repository=MIRROR
    )

    db = judge_trivy(probe_trivy(settings, tmp_path), settings, empty, NOW)[1]

    assert db.status == "fail"
    assert f"prepare it from mirror {MIRROR} (shipline scanner fetch-db, or " in (db.fix or "")
    assert f"--cache-dir {tmp_path / 'empty'} --db-repository={MIRROR})" in (db.fix or "")


def test_an_old_db_that_online_scans_should_have_refreshed_warns_to_check_the_source() -> None:
    settings = ScannerSettings(scanners=["vuln"], offline=False, db_repository=MIRROR)

    db = judge_trivy(facts("2026-11-20T00:00:00Z"), settings, CACHE, NOW)[1]

    assert db.status == "warn"
    assert "scans have not refreshed it" in db.detail
    assert f"check that the scanner reaches mirror {MIRROR}" in (db.fix or "")


def test_a_java_db_mirror_without_a_java_db_in_the_cache_warns_to_fetch_it() -> None:
    settings = ScannerSettings(scanners=["vuln"], java_db_repository=JAVA_MIRROR)

    db = judge_trivy(facts("2026-12-05T00:00:00Z"), settings, CACHE, NOW)[1]

    assert db.status == "warn"
    assert f"no Java DB in {CACHE} (mirror {JAVA_MIRROR})" in db.detail
    assert "shipline scanner fetch-db --java" in (db.fix or "")


def test_a_fresh_java_db_beside_a_fresh_db_is_ok() -> None:
    settings = ScannerSettings(scanners=["vuln"], java_db_repository=JAVA_MIRROR)

    db = judge_trivy(facts("2026-12-05T00:00:00Z", "2026-12-04T00:00:00Z"), settings, CACHE, NOW)[1]

    assert db.status == "ok"
