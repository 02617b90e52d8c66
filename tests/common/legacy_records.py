"""How the run store read its hashes before its records were typed (RunStore.get and
run_records.service_record as they were): the reference the typed records' JSON must equal."""

from __future__ import annotations

from typing import Any

STAGE_ORDER = ("detector", "builder", "scanner", "committer", "verifier", "notifier")


def legacy_service(raw: dict[str, str]) -> dict[str, Any]:
    timings: dict[str, dict[str, float]] = {}
    record: dict[str, Any] = {"image": "", "digest": "", "reason": ""}
    for key, value in raw.items():
        if key.startswith("t."):
            _, stage, edge = key.split(".")
            timings.setdefault(stage, {})[edge] = float(value)
        else:
            record[key] = value
    for marks in timings.values():
        if "started" in marks and "finished" in marks:
            marks["seconds"] = round(marks["finished"] - marks["started"], 3)
    record["timings"] = {s: timings[s] for s in STAGE_ORDER if s in timings}
    starts = [m["started"] for m in timings.values() if "started" in m]
    ends = [m["finished"] for m in timings.values() if "finished" in m]
    record["seconds"] = round(max(ends) - min(starts), 3) if starts and ends else 0.0
    record["cached"] = record.get("cached") == "1"
    return record


def legacy_run(raw: dict[str, str], services: dict[str, dict[str, str]]) -> dict[str, Any]:
    run: dict[str, Any] = dict(raw)
    for field in ("created_at", "received_at", "finished_at", "notified_at"):
        if field in run:
            run[field] = float(run[field])
    run.pop("completing", None)
    run["services"] = {name: legacy_service(services[name]) for name in sorted(services)}
    return run
