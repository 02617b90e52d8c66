"""The typed run records read back exactly what the hashes hold: pure, no Redis."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.run_models import Run, RunDetail, ServiceRecord
from services.common.run_records import service_record
from tests.common.legacy_records import legacy_run, legacy_service

BUILT = {
    "status": "running",
    "stage": "scanner",
    "t.detector.started": "1765000000.25",
    "t.detector.finished": "1765000001.5",
    "image_repository": "registry.local/shop/cart",
    "t.builder.started": "1765000001.75",
    "t.builder.finished": "1765000042.125",
    "image": "registry.local/shop/cart:sha-1234567",
    "digest": "sha256:" + "ab" * 32,
    "cached": "0",
    "t.scanner.started": "1765000043.0",
}
VERIFIED = {
    **BUILT,
    "status": "succeeded",
    "stage": "verifier",
    "t.scanner.finished": "1765000050.0",
    "scan_skipped_by": "dana",
    "scan_skip_reason": "CVE fix, scanner down",
    "gitops_commit": "d" * 40,
    "cluster": "prod",
    "push_to_healthy": "71.30000000000001",
    "workload": "Deployment shop/cart",
    "restored": "registry.local/shop/cart:sha-7654321",
    "restore_commit": "e" * 40,
    "restored_health": "healthy",
}
RUN = {
    "run_id": "20261206060314-07e3ba34",
    "status": "succeeded",
    "trigger": "tag",
    "created_at": "1765000000.123456",
    "provider": "github",
    "repository": "acme/shop",
    "ref": "refs/tags/v1.2.0",
    "commit": "c" * 40,
    "pusher": "dana",
    "delivery_id": "d-1",
    "received_at": "1765000000.2",
    "message": "feat: coupons",
    "detector.started": "1765000000.25",
    "expected": "2",
    "tag_object": "f" * 40,
    "release": "v1.2.0",
    "release_repository": "acme/shop",
    "release_commit": "c" * 40,
    "release_ref": "refs/tags/v1.2.0",
    "release_ready": "8a1b6f0e-5b0e-4f51-9d55-4a8f3a0c0b11",
    "release_notes": "## v1.2.0\n- **cart:** coupons",
    "finished_at": "1765000090.5",
    "notified_at": "1765000091.0",
}


@pytest.mark.parametrize(
    "raw",
    [BUILT, VERIFIED, {"status": "pending", "stage": "detector"}],
    ids=["built", "all", "new"],
)
def test_a_service_record_serialises_to_exactly_the_fields_its_hash_holds(
    raw: dict[str, str],
) -> None:
    assert service_record(raw).model_dump(mode="json") == legacy_service(raw)


@pytest.mark.parametrize(
    "raw",
    [
        RUN,
        {k: v for k, v in RUN.items() if not k.startswith("release") and k != "tag_object"},
        {"status": "running", "expected": "0", "reason": "the ref was deleted"},
        {"run_id": "r1", "status": "failed", "failure": "detector: PermanentError: boom"},
        {**RUN, "services": "cart,payments", "a_field_a_newer_trigger_adds": "x"},
    ],
    ids=["release", "push", "no-trigger-recorded", "run-failure", "unknown-fields"],
)
def test_a_run_serialises_to_exactly_the_fields_its_hash_holds(raw: dict[str, str]) -> None:
    services = {"cart": VERIFIED, "payments": BUILT}

    run = Run.model_validate(
        {**raw, "services": {n: service_record(s) for n, s in services.items()}}
    )

    assert run.model_dump(mode="json") == legacy_run(raw, services)


def test_counts_and_times_kept_as_strings_in_the_json_are_numbers_in_the_model() -> None:
    run = Run.model_validate({**RUN, "services": {"cart": service_record(VERIFIED)}})

    assert (run.expected, run.detector_started) == (2, 1765000000.25)
    assert run.services["cart"].push_to_healthy == 71.30000000000001
    dumped = run.model_dump(mode="json")
    assert (dumped["expected"], dumped["detector.started"]) == ("2", "1765000000.25")
    assert dumped["services"]["cart"]["push_to_healthy"] == "71.30000000000001"


def test_a_run_parsed_from_its_own_json_dumps_the_same_json() -> None:
    run = Run.model_validate({**RUN, "services": {"cart": service_record(VERIFIED)}})
    detail = RunDetail(**dict(run), timeline={})

    parsed = RunDetail.model_validate_json(detail.model_dump_json())

    assert parsed.model_dump(mode="json") == detail.model_dump(mode="json")
    assert parsed == detail


def test_the_json_schema_names_every_field_of_a_service() -> None:
    schema: dict[str, Any] = ServiceRecord.model_json_schema(mode="serialization")

    assert {"status", "stage", "image", "digest", "timings", "push_to_healthy"} <= set(
        schema["properties"]
    )
    assert schema["properties"]["push_to_healthy"]["anyOf"][0] == {"type": "string"}
