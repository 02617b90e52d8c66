"""A release tag through the running stack with `releases: true` on production: production's
overlays in one release commit with the notes, staging's untouched, and the services table
saying production runs the release."""

from __future__ import annotations

import re

import git

from services.common.events import ZERO_SHA
from services.demo.scenario import Push
from tests.e2e.test_environments import files_changed_by, overlay
from tests.e2e.test_promotion import with_environments
from tests.stack import Stack


def test_a_release_tag_deploys_to_the_releases_environment_in_one_commit(stack: Stack) -> None:
    sample = stack.sample
    with_environments(stack)
    staging = {name: sample.remote_file(overlay("staging", name)) for name in sample.services}
    sample.pull()
    with git.Repo(sample.clone) as repo:
        repo.git.tag("-a", "v2.0.0", "-m", "release 2.0.0")
        repo.git.push("origin", "refs/tags/v2.0.0")
        tag_object = repo.git.rev_parse("v2.0.0")
        commit = repo.git.rev_parse("v2.0.0^{commit}")

    response = stack.push_webhook(Push(ZERO_SHA, tag_object, "refs/tags/v2.0.0"))

    assert response.status_code == 202, response.text
    run = stack.wait_for_run(response.json()["run_id"])
    assert run["status"] == "succeeded", run
    release = sample.remote_head()
    assert release.message.startswith("release v2.0.0 [skip ci]")
    trailers = re.findall(
        r"^Shipline-Deployed: (\S+) (\S+)@([0-9a-f]{40}) in production$", release.message, re.M
    )
    assert sorted(trailers) == sorted((s, sample.name, commit) for s in sample.services)
    assert files_changed_by(stack, release.hexsha) == {
        overlay("production", name) for name in sample.services
    }
    for name in sample.services:
        image = f"{stack.registry.host}/microbank/{name}:v2.0.0"
        assert f"image: {image}" in sample.remote_file(overlay("production", name))
        assert sample.remote_file(overlay("staging", name)) == staging[name]
        assert run["services"][name]["gitops_commit"] == release.hexsha

    listed = stack.get("/api/v1/services", timeout=30)
    assert listed.status_code == 200, listed.text
    user = next(s for s in listed.json()["services"] if s["service"] == "user-service")
    production = next(e for e in user["environments"] if e["name"] == "production")
    assert production["source_commit"] == commit
    assert production["image"].endswith("/microbank/user-service:v2.0.0")
