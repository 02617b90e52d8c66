"""A release by an annotated tag, through the running stack: a host's webhook names the tag
object, and everything Shipline writes names the commit the tag points at."""

from __future__ import annotations

import re

import git

from services.common.events import ZERO_SHA, RunCompleted
from services.demo.scenario import Push
from services.notifier.channels.github_status import commit_status
from tests.stack import Stack


def test_an_annotated_release_tag_deploys_and_every_record_names_its_commit(stack: Stack) -> None:
    sample = stack.sample
    sample.pull()
    with git.Repo(sample.clone) as repo:
        repo.git.tag("-a", "v1.2.0", "-m", "release 1.2.0")
        repo.git.push("origin", "refs/tags/v1.2.0")
        tag_object = repo.git.rev_parse("v1.2.0")
        commit = repo.git.rev_parse("v1.2.0^{commit}")
    assert tag_object != commit

    response = stack.push_webhook(Push(ZERO_SHA, tag_object, "refs/tags/v1.2.0"))

    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    run = stack.wait_for_run(run_id)
    assert run["status"] == "succeeded", run
    assert (run["commit"], run["tag_object"]) == (commit, tag_object)
    assert set(run["services"]) == set(sample.services)
    for service in sample.services:
        labels = stack.registry.config_labels(f"microbank/{service}", "v1.2.0")
        assert labels["org.opencontainers.image.revision"] == commit, service

    release = sample.remote_head()
    assert release.message.startswith("release v1.2.0 [skip ci]")
    trailers = re.findall(r"^Shipline-Deployed: (\S+) (\S+)@([0-9a-f]{40})$", release.message, re.M)
    assert sorted(trailers) == sorted((s, sample.name, commit) for s in sample.services)

    note = stack.receiver.wait_for(
        lambda body: body.get("run_id") == run_id and body["event"]["type"] == "RunCompleted"
    )
    status = commit_status(RunCompleted.model_validate(note["event"]))
    assert status is not None and (status.sha, status.state) == (commit, "success")
