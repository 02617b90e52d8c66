"""The run indexes under a running `shipline up`: the reconciler records them built, the
runs API answers its filters from them, and a run the stages recreate after Redis lost its
data is indexed and found like any other."""

from __future__ import annotations

from services.common.keyspace import DEFAULT_KEYSPACE as KEYS
from tests.deploy_outcomes import deploy_commits, image_of
from tests.e2e.test_redis_wipe import start_slow_build, wipe
from tests.stack import Stack
from tests.workers import wait_until


def newest_run_of(stack: Stack, **params: str) -> str | None:
    answer = stack.get("/api/v1/runs", params={**params, "limit": "1"})
    assert answer.status_code == 200, answer.text
    runs = answer.json()["runs"]
    return runs[0]["run_id"] if runs else None


def indexes_recorded(stack: Stack) -> None:
    wait_until(
        lambda: stack.redis.exists(KEYS.runs_indexed), 90, "the reconciler to record the indexes"
    )


def test_a_deployed_push_is_answered_from_the_indexes_the_reconciler_recorded(
    stack: Stack,
) -> None:
    push = stack.sample.append("user_service/app.txt", "Indexed.", "feat(user): indexed")
    run_id = stack.deploy(push)["run_id"]

    indexes_recorded(stack)

    assert stack.redis.zscore(KEYS.runs_by_service("user-service"), run_id) is not None
    assert stack.redis.zscore(KEYS.runs_by_status("succeeded"), run_id) is not None
    assert stack.redis.zscore(KEYS.runs_by_status("running"), run_id) is None
    assert newest_run_of(stack, service="user-service") == run_id
    assert newest_run_of(stack, service="user-service", status="succeeded") == run_id


def test_a_run_recreated_after_a_wipe_is_indexed_and_found_by_its_service(stack: Stack) -> None:
    slow, interrupted = start_slow_build(stack, "transaction_service", "transaction-service")
    wipe(stack)
    slow_image = image_of(stack.registry, "transaction-service", slow.after)

    wait_until(
        lambda: deploy_commits(stack.sample, slow_image) > 0, 180, "the slow build to deploy"
    )
    run = stack.wait_for_run(interrupted, timeout=90)
    assert (run["status"], run["trigger"]) == ("succeeded", "recovered"), run
    indexes_recorded(stack)  # after the wipe: recorded again by a reconciler pass

    assert newest_run_of(stack, service="transaction-service") == interrupted
    assert newest_run_of(stack, status="succeeded", service="transaction-service") == interrupted
    assert stack.redis.zscore(KEYS.runs_by_repository(run["repository"]), interrupted)
    assert stack.redis.zscore(KEYS.runs_by_status("running"), interrupted) is None
