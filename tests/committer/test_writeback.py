"""GitopsWriter against a real bare remote holding the microbank sample, and real Redis."""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import git
import pytest
import redis
from structlog.testing import capture_logs

from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import ManifestCommitted, ScanPassed, Source
from services.common.git import Mirror
from services.common.settings import Repository, Settings
from services.demo.microbank import SERVICES, write_microbank

REPO_NAME = "acme/microbank"
REGISTRY = "127.0.0.1:5000/microbank"
BOT = ("Shipline Bot", "shipline-bot@localhost")


def manifest_path(service: str) -> str:
    return f"k8s/manifests/{service}/deployment.yaml"


class Remote:
    """A bare repository on disk holding the microbank sample on main."""

    def __init__(self, root: Path) -> None:
        self.path = root / "microbank.git"
        self.url = f"file://{self.path}"
        git.Repo.init(self.path, bare=True, initial_branch="main")
        work = root / "seed"
        work.mkdir()
        write_microbank(work, REGISTRY, "shipline/busybox:1")
        repo = git.Repo.init(work, initial_branch="main")
        repo.git.add("-A")
        actor = git.Actor("Dev", "dev@example.com")
        self.initial = repo.index.commit("microbank", author=actor, committer=actor).hexsha
        repo.create_remote("origin", self.url).push("HEAD:refs/heads/main")
        self.clone = repo

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.path)

    def log(self) -> list[git.Commit]:
        return list(self.repo.iter_commits("main"))

    def head(self) -> git.Commit:
        return self.repo.commit("main")

    def read(self, path: str, rev: str = "main") -> bytes:
        with git.Repo(self.path) as repo:
            data: bytes = (repo.commit(rev).tree / path).data_stream.read()
        return data


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path)


def settings_for(remote: Remote, workdir: Path, prime: bool = True) -> Settings:
    """Settings of one committer process; `prime` fetches its mirror first, as the detector
    does when it shares the work dir (a fresh work dir is covered by its own test)."""
    if prime:
        Mirror(remote.url, workdir / "mirrors").fetch()
    return Settings(
        workdir=workdir,
        repositories=[Repository(name=REPO_NAME, url=remote.url, webhook_secret="x" * 20)],
    )


@pytest.fixture
def writer_for(
    remote: Remote, tmp_path: Path, redis_client: redis.Redis
) -> Callable[[str], GitopsWriter]:
    def make(name: str) -> GitopsWriter:
        return GitopsWriter.connect(settings_for(remote, tmp_path / name), redis_client)

    return make


def scan_passed(remote: Remote, service: str, tag: str, run_id: str = "run-1") -> ScanPassed:
    return ScanPassed(
        run_id=run_id,
        service=service,
        source=Source(repository=REPO_NAME, commit=remote.initial, ref="refs/heads/main"),
        image_repository=f"{REGISTRY}/{service}",
        tags=(tag, "latest"),
        digest="sha256:" + "ab" * 32,
        counts={"CRITICAL": 0},
        policy="any secret blocks",
    )


def test_deploy_commits_the_new_image_as_the_bot_and_changes_only_that_line(
    remote: Remote, writer_for: Callable[[str], GitopsWriter]
) -> None:
    service, path = "user-service", manifest_path("user-service")
    before = remote.read(path)
    scan = scan_passed(remote, service, "sha-1a2b3c4")

    committed = writer_for("committer").deploy(scan)

    head = remote.head()
    image = f"{REGISTRY}/user-service:sha-1a2b3c4"
    assert scan.image == image
    assert committed.gitops_commit == head.hexsha
    assert [p.hexsha for p in head.parents] == [remote.initial]
    assert (head.author.name, head.author.email) == BOT
    assert (head.committer.name, head.committer.email) == BOT
    assert head.message == (
        f"chore(user-service): deploy {image} [skip ci]\n\n"
        f"Shipline-Deployed: user-service {REPO_NAME}@{remote.initial}\n"
    )
    assert list(head.stats.files) == [path]

    after = remote.read(path)
    old_lines, new_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    changed = [(o, n) for o, n in zip(old_lines, new_lines, strict=True) if o != n]
    old_image = f"{REGISTRY}/user-service:initial"
    assert changed == [
        (
            f"          image: {old_image}  # bumped by Shipline\n".encode(),
            f"          image: {image}  # bumped by Shipline\n".encode(),
        )
    ]

    assert committed == ManifestCommitted(
        event_id=scan.follow_up_id("ManifestCommitted"),
        occurred_at=committed.occurred_at,
        run_id="run-1",
        service=service,
        source=scan.source,
        manifest_path=path,
        old_image=old_image,
        new_image=image,
        digest=scan.digest,
        gitops_repository=REPO_NAME,
        gitops_commit=head.hexsha,
        branch="main",
    )


def test_deploy_from_a_fresh_workdir_fetches_the_source_repository_itself(
    remote: Remote, tmp_path: Path, redis_client: redis.Redis
) -> None:
    settings = settings_for(remote, tmp_path / "fresh-committer", prime=False)

    committed = GitopsWriter.connect(settings, redis_client).deploy(
        scan_passed(remote, "frontend", "sha-1111111")
    )

    assert committed.gitops_commit == remote.head().hexsha
    assert len(remote.log()) == 2


def test_redelivered_scan_passed_creates_no_second_commit(
    remote: Remote, writer_for: Callable[[str], GitopsWriter]
) -> None:
    writer = writer_for("committer")
    scan = scan_passed(remote, "account-service", "sha-7777777")

    first = writer.deploy(scan)
    again = writer.deploy(scan)

    assert len(remote.log()) == 2
    assert again.gitops_commit == first.gitops_commit == remote.head().hexsha
    assert again.event_id == first.event_id
    assert again.new_image == first.new_image


def test_redelivery_to_another_committer_process_creates_no_second_commit(
    remote: Remote, writer_for: Callable[[str], GitopsWriter]
) -> None:
    scan = scan_passed(remote, "account-service", "sha-7777777")

    first = writer_for("committer-a").deploy(scan)
    again = writer_for("committer-b").deploy(scan)

    assert len(remote.log()) == 2
    assert again.gitops_commit == first.gitops_commit


def test_redelivery_after_other_commits_reports_the_commit_that_deployed_the_image(
    remote: Remote, writer_for: Callable[[str], GitopsWriter]
) -> None:
    writer = writer_for("committer")
    scan = scan_passed(remote, "account-service", "sha-7777777")
    first = writer.deploy(scan)
    writer.deploy(scan_passed(remote, "frontend", "sha-8888888", run_id="run-2"))

    again = writer.deploy(scan)

    assert len(remote.log()) == 3
    assert again.gitops_commit == first.gitops_commit


def test_deploy_on_top_of_a_commit_pushed_by_someone_else(
    remote: Remote, writer_for: Callable[[str], GitopsWriter]
) -> None:
    writer = writer_for("committer")
    writer.deploy(scan_passed(remote, "frontend", "sha-1111111"))
    clone = remote.clone
    clone.git.pull("origin", "main")
    readme = Path(clone.working_tree_dir) / "README.md"  # type: ignore[arg-type]
    readme.write_text(readme.read_text() + "\nA human was here.\n")
    clone.index.add(["README.md"])
    human = clone.index.commit("docs: note").hexsha
    clone.git.push("origin", "HEAD:refs/heads/main")

    committed = writer.deploy(scan_passed(remote, "frontend", "sha-2222222", run_id="run-2"))

    assert remote.head().parents[0].hexsha == human
    assert committed.old_image == f"{REGISTRY}/frontend:sha-1111111"
    assert b"A human was here." in remote.read("README.md")


def test_unknown_service_is_a_permanent_error_and_commits_nothing(
    remote: Remote, writer_for: Callable[[str], GitopsWriter]
) -> None:
    with pytest.raises(PermanentError, match="not-a-service"):
        writer_for("committer").deploy(scan_passed(remote, "not-a-service", "sha-1111111"))

    assert len(remote.log()) == 1


def test_unconfigured_repository_is_a_permanent_error(
    remote: Remote, tmp_path: Path, redis_client: redis.Redis
) -> None:
    settings = Settings(workdir=tmp_path / "w", repositories=[])

    with pytest.raises(PermanentError, match="not configured"):
        GitopsWriter.connect(settings, redis_client).deploy(
            scan_passed(remote, "frontend", "sha-1")
        )


def run_in_threads(jobs: dict[str, Callable[[], ManifestCommitted]]) -> dict[str, object]:
    results: dict[str, object] = {}
    start = threading.Barrier(len(jobs))

    def work(name: str, job: Callable[[], ManifestCommitted]) -> None:
        start.wait()
        try:
            results[name] = job()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=work, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a deploy hung"
    return results


def assert_every_service_landed(remote: Remote, results: dict[str, object]) -> None:
    failures = {s: r for s, r in results.items() if not isinstance(r, ManifestCommitted)}
    assert failures == {}
    log = remote.log()
    assert len(log) == 1 + len(SERVICES)
    assert all(len(commit.parents) <= 1 for commit in log), "history is not linear"
    assert log[-1].hexsha == remote.initial
    assert {r.gitops_commit for r in results.values()} == {c.hexsha for c in log[:-1]}  # type: ignore[union-attr]
    for service in SERVICES:
        manifest = remote.read(manifest_path(service)).decode()
        assert f"image: {REGISTRY}/{service}:sha-{service[:3]}0000  #" in manifest


@pytest.fixture
def redis_clients(
    redis_url: str, redis_client: redis.Redis
) -> Iterator[Callable[[int], redis.Redis]]:
    opened: list[redis.Redis] = []

    def open_client(db: int = 0) -> redis.Redis:
        client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{db}")
        client.flushdb()
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def test_concurrent_committers_sharing_redis_land_every_update_in_a_linear_history(
    remote: Remote, tmp_path: Path, redis_clients: Callable[[int], redis.Redis]
) -> None:
    jobs = {
        service: GitopsWriter.connect(
            settings_for(remote, tmp_path / f"committer-{index}"), redis_clients(0)
        ).deploy
        for index, service in enumerate(SERVICES)
    }
    scans = {s: scan_passed(remote, s, f"sha-{s[:3]}0000", run_id=f"run-{s}") for s in SERVICES}

    with capture_logs() as logs:
        results = run_in_threads({s: (lambda s=s: jobs[s](scans[s])) for s in SERVICES})

    assert_every_service_landed(remote, results)
    rejected = [entry for entry in logs if entry["event"].startswith("push rejected")]
    assert rejected == [], "the Redis lock did not serialise the writers"


def deploy_in_own_process(
    settings_json: str, redis_url: str, scan_json: str, start: Any, results: Any
) -> None:
    """A committer process of its own (spawned): deploy one ScanPassed, report the outcome."""
    client = redis.Redis.from_url(redis_url)
    writer = GitopsWriter.connect(Settings.model_validate_json(settings_json), client)
    scan = ScanPassed.model_validate_json(scan_json)
    start.wait(timeout=60)
    try:
        results.put((scan.service, writer.deploy(scan).model_dump_json()))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        results.put((scan.service, f"{type(exc).__name__}: {exc}"))
    finally:
        client.close()


def test_committer_processes_without_a_shared_lock_land_every_update_by_reapplying(
    remote: Remote,
    tmp_path: Path,
    redis_url: str,
    redis_clients: Callable[[int], redis.Redis],
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    # Each process locks in its own Redis database, so nothing serialises them: their
    # pushes race, and the losers must fetch, re-apply on the new head and push again.
    monkeypatch.syspath_prepend(str(pytestconfig.rootpath))  # spawned children import this module
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(SERVICES)), context.Queue()
    processes = []
    for index, service in enumerate(SERVICES, start=1):
        redis_clients(index)  # flush that database
        settings = settings_for(remote, tmp_path / f"committer-{index}")
        scan = scan_passed(remote, service, f"sha-{service[:3]}0000", run_id=f"run-{service}")
        own_db = redis_url.rsplit("/", 1)[0] + f"/{index}"
        args = (settings.model_dump_json(), own_db, scan.model_dump_json(), start, results)
        processes.append(context.Process(target=deploy_in_own_process, args=args))
    for process in processes:
        process.start()
    outcomes: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while len(outcomes) < len(processes) and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            service, outcome = results.get(timeout=0.5)
            outcomes[service] = outcome
        if all(p.exitcode is not None for p in processes) and results.empty():
            break
    for process in processes:
        process.join(timeout=30)
    assert sorted(outcomes) == sorted(SERVICES), [p.exitcode for p in processes]

    decoded: dict[str, object] = {
        service: ManifestCommitted.model_validate_json(text) if text.startswith("{") else text
        for service, text in outcomes.items()
    }
    assert_every_service_landed(remote, decoded)
