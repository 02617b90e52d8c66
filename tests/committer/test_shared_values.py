"""A deploy whose manifest value is shared through a YAML alias, through the committer stage
on a real repository and Redis: the run fails saying why and what to do, nothing is pushed."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.committer.task import STAGE
from services.common.events import encode_event
from services.common.runtime import Runtime
from services.common.stage import StageRunner
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    scan_passed,
    scanned,
    settings_for,
    shipline_yaml,
)

VALUES = f"""\
images:
  shared: &shared
    repository: {REGISTRY}/migrate
    tag: "initial"
jobs:
  migrate:
    image: *shared
  seed:
    image: *shared
"""


@pytest.fixture
def charts(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "remotes", "acme/charts")
    keys = {"repository": "jobs.migrate.image.repository", "tag": "jobs.migrate.image.tag"}
    service = {"path": "migrate/", "manifest": "values.yaml", "format": "helm", "helm": keys}
    repo.commit(
        {
            "shipline.yaml": shipline_yaml({"migrate": service}),
            "migrate/app.txt": "migrate\n",
            "values.yaml": VALUES,
        },
        "initial",
    )
    return repo


def test_a_deploy_through_an_alias_fails_the_run_naming_the_anchor_and_pushes_nothing(
    charts: Repo, tmp_path: Path, redis_url: str
) -> None:
    runtime = Runtime(settings_for(tmp_path / "w", charts, redis_url=redis_url))
    commit = charts.log()[0].hexsha
    runtime.runs.create("run-1", trigger="push", repository=charts.name, commit=commit)
    runtime.runs.plan("run-1", ["migrate"])
    scan = scanned(runtime.redis, scan_passed(charts, "migrate", commit, "run-1"))

    StageRunner(STAGE, runtime).process(encode_event(scan))

    run = runtime.runs.get("run-1")
    assert run is not None and run.status == "failed"
    failed = run.services["migrate"]
    assert failed.status == "failed"
    assert failed.reason == (
        "committer: PermanentError: values.yaml: values jobs.migrate.image.tag: "
        "jobs.migrate.image is an alias (*shared) of images.shared (&shared, line 2), "
        "also used by jobs.seed.image. Setting jobs.migrate.image.tag would change "
        "images.shared.tag and so every alias of &shared. To deploy, give jobs.migrate.image "
        "its own value (replace *shared by a copy), or point the service's helm keys at "
        "images.shared.tag to change the shared value"
    )
    assert [c.hexsha for c in charts.log()] == [commit]
    assert charts.read("values.yaml") == VALUES
