"""The detector's handler on a real mirror and Redis: pushes, deletions and forced builds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from services.common.errors import PermanentError
from services.common.events import ZERO_SHA, BuildRequested, ChangeDetected, RunCompleted
from services.common.git import Mirror
from services.common.limits import Limits
from services.common.runtime import Runtime
from services.common.service_inventory import InventoryStore, Survey
from services.common.settings import Settings
from services.detector.task import make_handler
from tests.detector.conftest import NAME, SERVICES, Monorepo
from tests.gitops_reads import trailer_reads


@pytest.fixture
def runtime(seeded: Monorepo, redis_url: str, redis_client: redis.Redis, tmp_path: Path):
    settings = Settings(
        redis_url=redis_url, workdir=tmp_path / "state", repositories=[seeded.settings]
    )
    return Runtime(settings)


def request(**fields: object) -> BuildRequested:
    values: dict[str, object] = {"run_id": "run-forced", "repository": NAME, "services": ("web",)}
    values.update(fields)
    return BuildRequested(**values)


def test_a_push_plans_one_service_per_build_and_returns_the_builds(seeded, runtime):
    seeded.commit({"libs/common/lib.sh": "common v2\n"})
    push = seeded.push()

    outputs = make_handler(runtime)(push)

    assert sorted(e.service for e in outputs if isinstance(e, ChangeDetected)) == [
        "account-service",
        "user-service",
    ]
    run = runtime.runs.get(push.run_id)
    assert run is not None and run.expected == 2
    assert sorted(run.services) == ["account-service", "user-service"]


def test_a_push_to_the_default_branch_records_its_services_for_the_api(seeded, runtime):
    seeded.commit({"libs/common/lib.sh": "common v3\n"})
    push = seeded.push()

    make_handler(runtime)(push)

    survey = InventoryStore(runtime.redis).read(NAME)
    assert survey is not None and survey.commit == push.after
    assert sorted(row.service for row in survey.services) == sorted(SERVICES)


def test_the_survey_after_a_push_reads_no_trailers_the_detection_just_read(
    seeded, runtime, monkeypatch
):
    seeded.commit({"libs/common/lib.sh": "common v3\n"})
    push = seeded.push()
    reads = trailer_reads(monkeypatch)

    make_handler(runtime)(push)

    assert reads == [None]  # detection read the gitops branch whole; the survey, from its cache
    survey = InventoryStore(runtime.redis).read(NAME)
    assert survey is not None and survey.commit == push.after and survey.error is None


def test_the_survey_after_a_push_reads_the_mirror_the_detection_fetched_without_fetching_again(
    seeded, runtime, monkeypatch
):
    seeded.commit({"libs/common/lib.sh": "common v4\n"})
    push = seeded.push()
    fetches: list[str] = []
    fetch = Mirror.fetch

    def counted(self: Mirror, unless_present: str | None = None) -> None:
        fetches.append(self.url)
        fetch(self, unless_present)

    monkeypatch.setattr(Mirror, "fetch", counted)

    make_handler(runtime)(push)

    assert fetches == [seeded.settings.url]
    survey = InventoryStore(runtime.redis).read(NAME)
    assert survey is not None and survey.commit == push.after and survey.error is None


def test_the_survey_after_a_push_reads_no_shipline_yaml_the_detection_just_read(
    seeded, runtime, monkeypatch
):
    seeded.commit({"libs/common/lib.sh": "common v6\n"})
    push = seeded.push()
    reads: list[str] = []
    read_file = Mirror.read_file

    def counted(self: Mirror, commit: str, path: str, max_bytes: int | None = None):  # type: ignore[no-untyped-def]
        if path == "shipline.yaml":
            reads.append(commit)
        return read_file(self, commit, path, max_bytes)

    monkeypatch.setattr(Mirror, "read_file", counted)

    make_handler(runtime)(push)

    assert reads == [push.after]
    survey = InventoryStore(runtime.redis).read(NAME)
    assert survey is not None and survey.commit == push.after and survey.error is None


def test_the_survey_after_a_push_never_replaces_one_that_read_git_after_the_detections_fetch(
    seeded, runtime, monkeypatch
):
    seeded.commit({"libs/common/lib.sh": "common v5\n"})
    push = seeded.push()
    inventory = InventoryStore(runtime.redis)
    fetch = Mirror.fetch

    def then_a_committer_surveys(self: Mirror, unless_present: str | None = None) -> None:
        fetch(self, unless_present)
        if inventory.read(NAME) is None:  # after the detection's fetch
            time.sleep(0.01)  # the committer's survey starts after that fetch ended
            inventory.record(Survey(repository=NAME, commit="after-the-fetch"))

    monkeypatch.setattr(Mirror, "fetch", then_a_committer_surveys)

    make_handler(runtime)(push)

    survey = inventory.read(NAME)
    assert survey is not None and survey.commit == "after-the-fetch"


def test_a_deleted_branch_ends_the_run_skipped_with_the_reason(seeded, runtime):
    push = seeded.event("refs/heads/old", seeded.repo.head.commit.hexsha, ZERO_SHA)

    [completed] = make_handler(runtime)(push)

    assert isinstance(completed, RunCompleted)
    assert completed.status == "skipped"
    assert runtime.runs.get(push.run_id).reason == "the ref was deleted"


def test_a_forced_build_of_a_branch_builds_its_head_with_the_branch_tags(seeded, runtime):
    head = seeded.repo.head.commit.hexsha

    [change] = make_handler(runtime)(request(ref="refs/heads/main"))

    assert isinstance(change, ChangeDetected)
    assert (change.service, change.reason) == ("web", "forced")
    assert change.source.commit == head
    assert change.tags == (f"sha-{head[:7]}", "latest")
    assert runtime.runs.get("run-forced").expected == 1


def test_a_forced_build_of_a_commit_gets_only_the_commit_tag(seeded, runtime):
    first = seeded.repo.head.commit.hexsha
    seeded.commit({"web/src/index.html": "web v2\n"})
    seeded.push()

    changes = make_handler(runtime)(request(commit=first, services=("web", "user-service")))

    assert [(c.service, c.source.commit, c.tags) for c in changes] == [
        ("user-service", first, (f"sha-{first[:7]}",)),
        ("web", first, (f"sha-{first[:7]}",)),
    ]


def test_a_forced_build_of_a_release_tag_uses_the_version(seeded, runtime):
    seeded.tag("v2.0.0")

    changes = make_handler(runtime)(request(ref="refs/tags/v2.0.0", services=tuple(SERVICES)))

    assert {c.tags for c in changes} == {("v2.0.0",)}
    assert {c.reason for c in changes} == {"forced"}


def test_a_forced_build_naming_an_annotated_tags_object_records_the_commit_it_tags(seeded, runtime):
    head = seeded.repo.head.commit.hexsha
    tag_object = seeded.repo.create_tag("v2.1.0", message="release 2.1.0").tag.hexsha
    seeded.repo.git.push("origin", "refs/tags/v2.1.0")

    [change] = make_handler(runtime)(request(commit=tag_object))

    assert change.source.commit == head
    run = runtime.runs.get("run-forced")
    assert (run.commit, run.tag_object) == (head, tag_object)


def test_a_forced_build_of_an_unknown_service_fails_naming_it(seeded, runtime):
    with pytest.raises(PermanentError, match="no service payments in shipline.yaml"):
        make_handler(runtime)(request(ref="refs/heads/main", services=("payments",)))


def test_a_forced_build_of_a_missing_ref_fails_naming_it(seeded, runtime):
    with pytest.raises(PermanentError, match="refs/heads/nope is not in acme/mono"):
        make_handler(runtime)(request(ref="refs/heads/nope"))


def test_a_push_for_a_repository_that_is_not_configured_fails(seeded, runtime):
    push = seeded.event("refs/heads/main", ZERO_SHA, seeded.repo.head.commit.hexsha)

    with pytest.raises(PermanentError, match="not configured"):
        make_handler(runtime)(push.model_copy(update={"repository": "evil/repo"}))


def test_a_push_over_the_services_limit_fails_and_builds_nothing(seeded, redis_url, tmp_path):
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path / "state",
        repositories=[seeded.settings],
        limits=Limits(services_per_push=1),
    )
    runtime = Runtime(settings)
    seeded.commit({"libs/common/lib.sh": "common v2\n"})  # two services depend on it

    with pytest.raises(PermanentError, match=r"would build 2 services, more than limits\."):
        make_handler(runtime)(seeded.push())
