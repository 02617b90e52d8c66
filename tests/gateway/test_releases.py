"""POST /api/v1/releases and `shipline release`: an existing tag released by hand. The
gateway queues the request; the detector resolves the tag (the gateway has no git)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import git
import pytest
import redis
from click.testing import CliRunner
from fastapi.testclient import TestClient

from services.cli import main
from services.common.bus import queue_name
from services.common.errors import PermanentError
from services.common.events import ZERO_SHA, ReleaseRequested, decode_event
from services.common.mirrors import mirror_of
from services.common.settings import Repository, Settings
from services.detector.requests import release_push
from services.gateway.app import create_app
from tests.api_server import serving

TOKEN = "api-token-for-releases-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = "acme/microbank"


@pytest.fixture
def tagged(tmp_path: Path) -> tuple[str, str]:
    """A bare remote whose `v1.2.3` tag points at its second commit: (url, tagged sha)."""
    remote = tmp_path / "remote.git"
    git.Repo.init(remote, bare=True, initial_branch="main").close()
    with git.Repo.init(tmp_path / "work", initial_branch="main") as work:
        actor = git.Actor("Dev", "dev@example.com")
        for text in ("one", "two"):
            (tmp_path / "work" / "app.txt").write_text(text)
            work.index.add(["app.txt"])
            work.index.commit(f"feat: {text}", author=actor, committer=actor)
        tagged_sha = work.head.commit.hexsha
        work.create_tag("v1.2.3", message="release v1.2.3")
        work.create_remote("origin", f"file://{remote}")
        work.git.push("origin", "main", "--tags")
    return f"file://{remote}", tagged_sha


@pytest.fixture
def settings(tagged, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        workdir=tmp_path / "state",
        repositories=[Repository(name=REPO, url=tagged[0], webhook_secret="s" * 20)],
        api_tokens=[TOKEN],
    )


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def detector_queue(client: redis.Redis) -> list[ReleaseRequested]:
    events = []
    for raw in client.lrange(queue_name("detector"), 0, -1):
        args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        event = decode_event(args[0])
        assert isinstance(event, ReleaseRequested)
        events.append(event)
    return events


def test_a_release_is_queued_for_the_detector_which_pushes_the_tag_at_its_commit(
    client, redis_client, tagged, settings
):
    response = client.post("/api/v1/releases", json={"tag": "v1.2.3"}, headers=AUTH)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["tag"], answer["queue"]) == ("v1.2.3", "detector")
    [request] = detector_queue(redis_client)
    assert (request.run_id, request.tag, request.requested_by) == (
        answer["run_id"],
        "v1.2.3",
        "api-token-1",
    )
    assert client.get(f"/api/v1/runs/{answer['run_id']}", headers=AUTH).json()["trigger"] == "tag"
    mirror = mirror_of(settings, settings.repositories[0])
    mirror.fetch()
    push = release_push(request, settings.repositories[0], mirror)
    assert (push.run_id, push.ref, push.before, push.after) == (
        answer["run_id"],
        "refs/tags/v1.2.3",
        ZERO_SHA,
        tagged[1],
    )


def test_a_release_of_a_tag_that_is_not_there_fails_its_run_naming_the_tag(
    client, redis_client, settings
):
    response = client.post("/api/v1/releases", json={"tag": "v9.9.9"}, headers=AUTH)

    assert response.status_code == 202, response.text
    [request] = detector_queue(redis_client)
    mirror = mirror_of(settings, settings.repositories[0])
    mirror.fetch()
    with pytest.raises(PermanentError, match=f"tag v9.9.9 is not in {REPO}"):
        release_push(request, settings.repositories[0], mirror)


def test_releasing_the_same_tag_again_returns_the_first_run(client, redis_client):
    first = client.post("/api/v1/releases", json={"tag": "v1.2.3"}, headers=AUTH).json()

    again = client.post("/api/v1/releases", json={"tag": "v1.2.3"}, headers=AUTH)

    assert again.status_code == 200
    assert again.json()["run_id"] == first["run_id"] and again.json()["duplicate"] is True
    assert len(detector_queue(redis_client)) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"tag": "v1.2.3", "repository": "evil/other"}, AUTH, 422),
        ({"tag": "v1.2.3;rm -rf /"}, AUTH, 422),
        ({"tag": "v1.2.3"}, {}, 401),
    ],
)
def test_a_release_that_cannot_start_is_refused_and_queues_nothing(
    client, redis_client, body, headers, status
):
    response = client.post("/api/v1/releases", json=body, headers=headers)

    assert response.status_code == status
    assert response.json()["detail"]
    assert detector_queue(redis_client) == []


def test_shipline_release_starts_the_release_through_the_api(app, redis_client, tagged):
    with serving(app) as url:
        result = CliRunner().invoke(
            main,
            ["release", "v1.2.3", "-o", "json"],
            env={"SHIPLINE_URL": url, "SHIPLINE_TOKEN": TOKEN},
        )

    assert result.exit_code == 0, result.output
    printed = result.stdout[result.stdout.index("{") :]  # the in-process server may log first
    assert json.loads(printed)["tag"] == "v1.2.3"
    assert [request.tag for request in detector_queue(redis_client)] == ["v1.2.3"]
