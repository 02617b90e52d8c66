"""Which environment a notification is about: a rollout by the manifest its commit wrote, any
other event by what its run recorded, on a real Redis; never by what an event says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.environment_view import EnvironmentsStore, EnvironmentsView, EnvironmentView
from services.common.events import RunCompleted, Source
from services.common.project import Project
from services.common.promotion_events import PullRequestOpened
from services.common.run_models import Run
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.gateway.app import create_app
from services.notifier.event_environment import EventEnvironments, run_environment
from tests.committer.gitrepos import monorepo, settings_for
from tests.common.test_auto_promotion import STAGING_THEN_AUTO, committed, project, verified

REPOSITORY = "acme/shop"
SRE = "rollback-everywhere-token-0123456789"
VIEW = EnvironmentsView(
    repository=REPOSITORY,
    commit="a" * 40,
    environments=(
        EnvironmentView(name="staging"),
        EnvironmentView(name="qa", source="staging"),
        EnvironmentView(name="production", source="qa", releases=True),
    ),
)


def run(**fields: object) -> Run:
    return Run.model_validate({"run_id": "r1", "repository": REPOSITORY, **fields})


# --- a run's environment, pure -----------------------------------------------------------


@pytest.mark.parametrize("trigger", ["push", "tag", "forced", "deploy", "rollback", "unpin"])
def test_a_run_that_records_no_environment_deploys_where_pushes_land(trigger: str) -> None:
    assert run_environment(run(trigger=trigger), VIEW) == "staging"


def test_a_release_run_is_in_the_environment_releases_deploy_to() -> None:
    assert run_environment(run(trigger="tag", release="1.4.0"), VIEW) == "production"
    no_releases = VIEW.model_copy(update={"environments": VIEW.environments[:2]})
    assert run_environment(run(trigger="tag", release="1.4.0"), no_releases) == "staging"


def test_a_promotion_or_rollback_is_in_the_environment_it_was_asked_for() -> None:
    assert run_environment(run(trigger="promotion", environment="qa"), VIEW) == "qa"
    assert run_environment(run(trigger="rollback", environment="production"), VIEW) == (
        "production"
    )


def test_a_run_in_no_environment_the_repository_has_is_in_none() -> None:
    assert run_environment(run(trigger="promotion", environment="moon"), VIEW) is None
    assert run_environment(run(trigger="promotion"), VIEW) is None
    assert run_environment(run(trigger="recovered"), VIEW) is None
    assert run_environment(None, VIEW) is None


# --- the adapter, on a real Redis ----------------------------------------------------------


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    yield runtime
    runtime.redis.close()


def environments(runtime: Runtime, reads: list[str]) -> EventEnvironments:
    def read_project(settings: Settings, source: Source) -> Project:
        reads.append(source.commit)
        return project(STAGING_THEN_AUTO)

    return EventEnvironments(
        runtime.settings, EnvironmentsStore(runtime.redis), runtime.runs, read_project
    )


def recorded_view(runtime: Runtime) -> None:
    staging, production = EnvironmentView(name="staging"), EnvironmentView(name="production")
    EnvironmentsStore(runtime.redis).record(
        EnvironmentsView(repository=REPOSITORY, commit="a" * 40, environments=(staging, production))
    )


def test_a_repository_without_recorded_environments_is_in_none_and_is_not_read(
    runtime: Runtime,
) -> None:
    reads: list[str] = []
    runtime.runs.create("r1", trigger="push", repository=REPOSITORY)

    assert environments(runtime, reads)(committed("production")) is None
    assert reads == []


def test_a_rollout_is_in_the_environment_whose_manifest_its_commit_wrote(
    runtime: Runtime,
) -> None:
    recorded_view(runtime)
    runtime.runs.create("r1", trigger="push", repository=REPOSITORY)  # says staging
    reads: list[str] = []
    of = environments(runtime, reads)

    assert of(committed("production")) == "production"
    assert of(committed("staging")) == "staging"
    assert of(verified("c1", "k8s/overlays/production/api.yaml")) == "production"
    assert reads == ["a" * 40] * 3


def test_a_rollout_no_environment_writes_is_in_its_run_s_environment(runtime: Runtime) -> None:
    recorded_view(runtime)
    runtime.runs.create("r1", trigger="promotion", repository=REPOSITORY, environment="production")

    assert environments(runtime, [])(committed(manifest_path="k8s/api.yaml")) == "production"


def test_what_an_event_says_its_environment_is_never_believed(runtime: Runtime) -> None:
    recorded_view(runtime)
    runtime.runs.create("r1", trigger="push", repository=REPOSITORY)
    claims = PullRequestOpened(
        run_id="r1",
        service="api",
        environment="production",
        gitops_repository=REPOSITORY,
        number=7,
        url="https://github.example/acme/shop/pull/7",
        branch="shipline/promote-production",
        commit="c" * 40,
    )

    assert environments(runtime, [])(claims) == "staging"


# --- a rollback's environment, as the gateway records it -----------------------------------


def test_a_rollback_asked_for_in_production_is_notified_in_production(
    runtime: Runtime, tmp_path: Path, redis_url: str
) -> None:
    recorded_view(runtime)
    shop = monorepo(tmp_path / "remotes", ["api"], name=REPOSITORY)
    tokens: list[object] = [{"token": SRE, "scopes": ["read", "rollback"], "name": "sre"}]
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=tokens)
    asked: dict[str | None, str] = {}
    with TestClient(create_app(settings)) as client:
        for environment in ("production", None):
            body = {"service": "api", **({"environment": environment} if environment else {})}
            answer = client.post(
                "/api/v1/rollbacks", json=body, headers={"Authorization": f"Bearer {SRE}"}
            )
            assert answer.status_code == 202, answer.text
            asked[environment] = answer.json()["run_id"]
    of = environments(runtime, [])

    def completed(run_id: str) -> RunCompleted:
        return RunCompleted(run_id=run_id, status="succeeded", repository=REPOSITORY)

    assert of(completed(asked["production"])) == "production"
    assert of(completed(asked[None])) == "staging"  # a rollback naming none: the first one
