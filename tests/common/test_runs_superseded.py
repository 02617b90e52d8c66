"""The run store and a build the builder dropped for a newer push: `superseded` is final."""

from __future__ import annotations

import pytest
import redis

from services.common.events import (
    BuildSuperseded,
    ManifestCommitted,
    RunCompleted,
    ServiceOutcome,
    Source,
)
from services.common.run_records import overall_status
from services.common.runs import RunStore

RUN = "run-old"
OLD, NEW = "a" * 40, "b" * 40
SOURCE = Source(repository="acme/microbank", commit=OLD, ref="refs/heads/main")


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    store = RunStore(redis_client)
    store.create(RUN, trigger="push", repository="acme/microbank", commit=OLD)
    return store


def superseded(service: str) -> BuildSuperseded:
    return BuildSuperseded(
        run_id=RUN, service=service, source=SOURCE, newer_commit=NEW, newer_run_id="run-new"
    )


def committed(service: str) -> ManifestCommitted:
    return ManifestCommitted(
        run_id=RUN,
        service=service,
        source=SOURCE,
        manifest_path=f"k8s/{service}.yaml",
        old_image="r/x:old",
        new_image=f"r/{service}:sha-aaaaaaa",
        gitops_repository="acme/microbank",
        gitops_commit="c" * 40,
        branch="main",
    )


def test_a_superseded_build_ends_its_service_and_completes_the_run(runs: RunStore) -> None:
    runs.plan(RUN, ["api"])

    completed = runs.apply(superseded("api"))

    assert isinstance(completed, RunCompleted)
    assert completed.status == "superseded"
    assert completed.services["api"].status == "superseded"
    assert completed.services["api"].reason == f"superseded by {NEW[:7]} (run run-new)"
    service = runs.get(RUN).services["api"]
    assert (service.status, service.stage) == ("superseded", "builder")


def test_a_run_with_a_superseded_and_a_deployed_service_succeeded(runs: RunStore) -> None:
    runs.plan(RUN, ["api", "web"])

    assert runs.apply(superseded("api")) is None
    completed = runs.apply(committed("web"))

    assert isinstance(completed, RunCompleted)
    assert completed.status == "succeeded"
    assert completed.services["api"].status == "superseded"


def test_a_redelivered_superseded_event_completes_the_run_once(runs: RunStore) -> None:
    runs.plan(RUN, ["api", "web"])
    runs.apply(superseded("api"))

    assert runs.apply(superseded("api")) is None


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (("superseded",), "superseded"),
        (("superseded", "superseded"), "superseded"),
        (("superseded", "succeeded"), "succeeded"),
        (("superseded", "blocked"), "blocked"),
        (("superseded", "failed"), "failed"),
    ],
)
def test_superseded_only_names_the_run_when_every_service_was(
    statuses: tuple[str, ...], expected: str
) -> None:
    outcomes = {
        f"s{index}": ServiceOutcome(status=status)  # type: ignore[arg-type]
        for index, status in enumerate(statuses)
    }

    assert overall_status(outcomes) == expected
