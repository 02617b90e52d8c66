"""A shipline.yaml that does not fit its commit, pushed through the running stack: the run
fails at the detector, and `GET /api/v1/runs/{id}` says what to fix."""

from __future__ import annotations

from tests.stack import Stack


def test_a_push_with_a_service_path_that_does_not_exist_fails_the_run_saying_which(
    stack: Stack,
) -> None:
    sample = stack.sample
    config = sample.remote_file("shipline.yaml")
    assert "path: user_service/" in config
    broken = sample.change(
        "shipline.yaml",
        config.replace("path: user_service/", "path: usr_service/"),
        "chore: move user-service (not really)",
    )

    response = stack.push_webhook(broken)
    run = stack.wait_for_run(response.json()["run_id"])

    assert run["status"] == "failed", run
    assert run["services"] == {}
    line = (
        "shipline.yaml: services.user-service.path: 'usr_service/' does not exist; "
        "did you mean 'user_service/'?"
    )
    api = stack.get(f"/api/v1/runs/{response.json()['run_id']}", timeout=5).json()
    assert api["failure"].startswith(
        f"detector: ShiplineYamlMismatch: shipline.yaml does not fit commit {broken.after[:7]}"
    )
    assert line in api["failure"].splitlines()

    fixed = sample.change("shipline.yaml", config, "chore: put user-service back")
    run = stack.wait_for_run(stack.push_webhook(fixed).json()["run_id"])
    assert run["status"] in ("succeeded", "skipped"), run
