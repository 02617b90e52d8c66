"""The reconciler brings back a build failed on an outage with no push at all, as `shipline
up` lives it: the registry stopped while a service builds, started again, nothing pushed,
and the service's newest commit is deployed by a retry run the reconciler starts. A build
that failed for good (a bad Dockerfile) is never retried, nor is a pinned service.

Short settings: a pass every second, the first retry 2 s after the failure is seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from services.common.keyspace import Keyspace
from services.demo.scenario import Push
from services.reconciler.converge_state import ConvergeState
from tests.deploy_outcomes import image_of, manifest_of
from tests.stack import Stack, own_registry_stack

BUDGET = 4.0
FIRST_RETRY = 2.0
RECONCILER = {"period_seconds": 1, "retry_first_seconds": FIRST_RETRY, "retry_max_seconds": 8}
USER, ACCOUNT = "user-service", "account-service"
MAIN = "refs/heads/main"


# A `shipline up` whose registry the tests stop and start, on a short budget.
retry_stack = own_registry_stack(BUDGET, reconciler=RECONCILER)


def failed(stack: Stack, push: Push, service: str) -> dict[str, Any]:
    run = stack.run_of(push)
    assert run["services"][service]["status"] == "failed", run
    return run


def sent_run(stack: Stack, service: str) -> str:
    """The run the detector (or the reconciler) last sent `service` to build in."""
    raw = stack.redis.hget(Keyspace().sent_builds(stack.sample.name, MAIN), service)
    assert raw is not None
    return str(raw.decode())


def eventually(check: Callable[[], bool], timeout: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    log_tail = stack.log_path.read_text(errors="replace")[-4000:]
    raise AssertionError(f"{what} within {timeout} s\n--- shipline log ---\n{log_tail}")


def test_a_build_failed_on_a_registry_outage_is_deployed_by_the_reconciler_with_no_push(
    retry_stack: Stack,
) -> None:
    stack, sample = retry_stack, retry_stack.sample
    lost, outage = stack.lose_a_build_to_a_registry_outage()
    tag = f"sha-{lost.after[:7]}"
    image = image_of(stack.registry, "user-service", lost.after)

    eventually(lambda: f"image: {image}" in manifest_of(sample, USER), 120, "not deployed", stack)

    retry = stack.wait_for_run(sent_run(stack, USER))
    assert retry["run_id"] != outage["run_id"]
    assert retry["trigger"] == "retry" and retry["status"] == "succeeded", retry
    assert list(retry["services"]) == [USER]
    assert retry["services"][USER]["image"] == image
    assert stack.registry.manifest_digest("microbank/user-service", tag) is not None
    labels = stack.registry.config_labels("microbank/user-service", tag)
    assert labels["org.opencontainers.image.revision"] == lost.after
    assert sample.remote_head().hexsha == retry["services"][USER]["gitops_commit"]
    store = ConvergeState(stack.redis)  # forgotten at the pass after the retry succeeded
    eventually(lambda: store.get(sample.name, USER) is None, 10, "not forgotten", stack)


def test_a_build_failed_for_good_is_not_retried_by_the_reconciler(retry_stack: Stack) -> None:
    stack, sample = retry_stack, retry_stack.sample
    broken = sample.append("account_service/Dockerfile", "RUN exit 3", "build(account): broken")
    run = failed(stack, broken, ACCOUNT)
    assert "gave up after" not in run["services"][ACCOUNT]["reason"]

    time.sleep(4 * (FIRST_RETRY + RECONCILER["period_seconds"]))

    assert sent_run(stack, ACCOUNT) == run["run_id"]
    assert ConvergeState(stack.redis).get(sample.name, ACCOUNT) is None
    assert f"sha-{broken.after[:7]}" not in manifest_of(sample, ACCOUNT)


def test_a_pinned_service_is_never_built_by_the_reconciler(retry_stack: Stack) -> None:
    stack, sample = retry_stack, retry_stack.sample
    rollback = httpx.post(
        f"{stack.api}/api/v1/rollbacks", json={"service": USER}, headers=stack.auth, timeout=60
    )
    assert rollback.status_code == 202, rollback.text
    assert stack.wait_for_run(rollback.json()["run_id"])["status"] == "succeeded"
    held = manifest_of(sample, USER)
    lost = sample.append("user_service/app.txt", "While pinned.", "feat(user): pinned")
    outage = stack.run_while_registry_is_down(lost)
    assert outage["services"][USER]["status"] == "failed", outage
    store = ConvergeState(stack.redis)

    def settled() -> bool:
        state = store.get(sample.name, USER)
        return state is not None and state.settled == "pinned"

    eventually(settled, 60, "not settled as pinned", stack)
    time.sleep(3 * (FIRST_RETRY + RECONCILER["period_seconds"]))

    assert sent_run(stack, USER) == outage["run_id"]
    assert store.retry_at(sample.name, USER) is None
    assert manifest_of(sample, USER) == held
    assert stack.registry.manifest_digest("microbank/user-service", f"sha-{lost.after[:7]}") is None
