"""Bounded work (issue 17, V6 and its hardening gaps): what a repository writer or anyone who
reaches the gateway can make Shipline do is capped, and forged refs or versions do nothing.

On the running stack where the attack goes through the gateway (`stack`, tests/stack.py);
the rest against the real stage (the detector on a real mirror and Redis, the committer on
real repositories).
"""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import git
import pytest
import redis

from services.committer.writeback import GitopsWriter
from services.common.errors import ConfigError, PermanentError
from services.common.events import ZERO_SHA, ReleaseImage, ReleaseReady, Source
from services.common.runs import RunStore
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.demo.scenario import Push, send_github_push
from services.detector.task import make_handler
from tests.committer.gitrepos import DIGEST, REGISTRY, monorepo, settings_for
from tests.detector.conftest import SHIPLINE_YAML, Monorepo
from tests.stack import API_TOKEN, WEBHOOK_SECRET, Stack

GLOB_BOMB = "a**a**a**a**a**a**a**b"  # Python's re: 45 s at 110 characters, 93 s at 120


# --- through the running stack --------------------------------------------------------------


def test_a_backtracking_ignore_glob_does_not_hold_the_detector(stack: Stack) -> None:
    sample = stack.sample
    config = sample.remote_file("shipline.yaml")
    armed = sample.change(
        "shipline.yaml", config.rstrip("\n") + f'\nignore: ["{GLOB_BOMB}"]\n', "chore: ignore"
    )
    stack.wait_for_run(stack.push_webhook(armed).json()["run_id"])

    bomb = sample.change("a" * 120, "x\n", "chore: a long name")
    run = stack.wait_for_run(stack.push_webhook(bomb).json()["run_id"], timeout=60)

    assert (run["status"], run["reason"]) == ("skipped", "no service changed"), run
    assert run["finished_at"] - run["created_at"] < 10  # was 93 s of one detector's CPU


def test_a_tag_ref_that_was_never_pushed_builds_and_releases_nothing(stack: Stack) -> None:
    sample = stack.sample
    gitops_head = sample.remote_head().hexsha
    forged = Push(before=ZERO_SHA, after=gitops_head, ref="refs/tags/v9.9.9")

    response = stack.push_webhook(forged)

    assert response.status_code == 202, response.text
    run = stack.wait_for_run(response.json()["run_id"], timeout=60)
    assert run["status"] == "skipped", run
    assert "refs/tags/v9.9.9 does not exist" in run["reason"]
    assert run["services"] == {}
    assert sample.remote_head().hexsha == gitops_head  # no release commit
    for service in sample.services:
        assert stack.registry.manifest_digest(f"microbank/{service}", "v9.9.9") is None


def test_a_push_replayed_under_a_new_delivery_id_starts_one_run(stack: Stack) -> None:
    push = stack.sample.change("notes/replay.txt", "once\n", "docs: a note")  # builds nothing
    body = stack.sample.github_payload(push)  # the very same signed body each time

    first = send_github_push(stack.api, WEBHOOK_SECRET, body, str(uuid.uuid4()))
    replays = [send_github_push(stack.api, WEBHOOK_SECRET, body, str(uuid.uuid4())) for _ in "abc"]

    assert first.status_code == 202, first.text
    run_id = first.json()["run_id"]
    assert [(r.status_code, r.json()) for r in replays] == [
        (200, {"run_id": run_id, "duplicate": True})
    ] * 3
    runs = stack.get("/api/v1/runs", params={"limit": 500}, timeout=10).json()
    assert [r["run_id"] for r in runs["runs"] if r.get("commit") == push.after] == [run_id]
    stack.wait_for_run(run_id)


def test_the_event_stream_over_the_per_client_limit_gets_429(stack: Stack) -> None:
    streams = [_open_stream(stack.api) for _ in range(10)]  # limits.event_streams_per_client
    try:
        assert [status for _, status, _ in streams] == [200] * 10
        over, status, answer = _open_stream(stack.api)
        over.close()
        started = time.monotonic()
        health = stack.get("/api/v1/runs", params={"limit": 1}, timeout=10)
        took = time.monotonic() - started
    finally:
        for sock, _, _ in streams:
            sock.close()

    assert status == 429
    assert b"too many open event streams for this client (10" in answer
    assert health.status_code == 200 and took < 1


def _open_stream(api: str) -> tuple[socket.socket, int, bytes]:
    host, port = api.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        f"GET /api/v1/events/stream HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_TOKEN}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    status = int(head.split()[1])
    if status != 200:
        head += sock.recv(4096)
    return sock, status, head


# --- against the real detector: a mirror on disk and Redis ---------------------------------


@pytest.fixture
def detector(tmp_path: Path, redis_url: str, redis_client: redis.Redis):
    repo = Monorepo(tmp_path)
    repo.seed()
    runtime = Runtime(
        Settings(redis_url=redis_url, workdir=tmp_path / "state", repositories=[repo.settings])
    )
    return repo, runtime, make_handler(runtime)


def test_a_40_mb_shipline_yaml_is_refused_before_it_is_parsed(detector) -> None:
    repo, runtime, handle = detector
    repo.commit({"shipline.yaml": SHIPLINE_YAML + ("# padding\n" * 4_000_000)})
    push = repo.push()

    started = time.monotonic()
    with pytest.raises(ConfigError, match="shipline.yaml: larger than the limit of 1048576"):
        handle(push)

    assert time.monotonic() - started < 5
    assert runtime.runs.get(push.run_id) is None or not runtime.runs.get(push.run_id).services


def test_a_push_of_1001_services_fails_instead_of_fanning_out(detector) -> None:
    repo, runtime, handle = detector
    services = "".join(f"  svc-{n}:\n    path: svc/{n}/\n" for n in range(1001))
    repo.commit(
        {
            "shipline.yaml": "registry: 127.0.0.1:5000/acme\nglobal_paths: [libs/]\n"
            f"services:\n{services}",
            "libs/shared.txt": "everyone rebuilds\n",
        }
    )
    push = repo.push()

    with pytest.raises(PermanentError, match="would build 1001 services, more than limits"):
        handle(push)

    run = runtime.runs.get(push.run_id)
    assert run is None or not run.services  # nothing planned, nothing queued for builders


# --- against the real committer: real repositories and Redis --------------------------------


def test_a_release_version_with_a_newline_is_refused_and_no_commit_carries_it(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"], gitops={"changelog": "CHANGELOG.md"})
    head = shop.log()[0].hexsha
    RunStore(redis_client).create("run-forged", trigger="tag")
    forged = ReleaseReady(
        run_id="run-forged",
        source=Source(repository=shop.name, commit=head, ref="refs/tags/v1.0.0"),
        version=f"v1.0.0\nShipline-Deployed: cart evil/repo@{'e' * 40}",
        images={"cart": ReleaseImage(image_repository=f"{REGISTRY}/cart", tag="v1", digest=DIGEST)},
    )

    with pytest.raises(PermanentError, match="release version .* refused"):
        GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client).release(forged)

    with git.Repo(shop.bare) as remote:
        messages = [c.message for c in remote.iter_commits("--all")]
    assert len(messages) == 1
    assert not any("evil/repo" in message for message in messages)
