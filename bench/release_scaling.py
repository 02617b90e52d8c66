"""How a release's per-service costs grow with its size: the parts that could be quadratic,
in process, on real Redis and real git (no Docker).

For N services (25, 50, 100, 200 by default), a monorepo with a release tag, and then:
detection of the release set (the detector's mapping of the tag push); the run store taking
every service's scan outcome to the ReleaseReady (the scanner's aggregation, through the
publish script) and every commit to the RunCompleted (the completion check); the committer's
release write (one commit of N manifest edits, GitopsWriter.release); the notifier's
summary (the run read back, summarised and rendered). Each is reported per service, with
the git commands and Redis commands it took per service: flat as N grows is linear.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import git
import redis

from bench.figures import Figure, Target, alternate, print_figure
from services.committer.survey import resurvey
from services.committer.writeback import GitopsWriter
from services.common.events import (
    ChangeDetected,
    ImagePushed,
    ManifestCommitted,
    PushReceived,
    ReleaseImage,
    ReleaseReady,
    RunCompleted,
    ScanPassed,
    Source,
)
from services.common.git import Mirror
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore
from services.common.settings import Settings
from services.detector.deployed import DeployedCache
from services.detector.task import pushed_changes
from services.devenv.redis_server import RedisServer
from services.notifier.messages import summary
from services.notifier.recorded import recorded_summary
from tests.committer.gitrepos import (
    DIGEST,
    REGISTRY,
    Repo,
    deployment,
    settings_for,
    shipline_yaml,
)

SIZES = (25, 50, 100, 200)
VERSION = "v1.1.0"
GROWTH_TARGET = Target(1.5)  # per service, N=200 against N=25: linear stays near 1x
PARTS = ("detection", "release ready", "completion", "release commit", "summary", "survey")
PER_COMMIT = {"survey": "survey after one deploy commit"}  # its cost per commit, not service


@dataclass
class Cost:
    seconds: float = 0.0
    git: int = 0
    redis: int = 0


@dataclass
class Counters:
    git: int = 0


@contextmanager
def counting_git(counters: Counters) -> Iterator[None]:
    """Counts every git command GitPython runs (Mirror, Checkout and Repo all go through it)."""
    original = git.cmd.Git.execute

    def execute(self: git.cmd.Git, *args: Any, **kwargs: Any) -> Any:
        counters.git += 1
        return original(self, *args, **kwargs)

    git.cmd.Git.execute = execute  # type: ignore[method-assign]
    try:
        yield
    finally:
        git.cmd.Git.execute = original  # type: ignore[method-assign]


def redis_commands(client: redis.Redis) -> int:
    """Commands Redis has run so far, those of scripts included."""
    stats = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


class Probe:
    def __init__(self, client: redis.Redis, counters: Counters) -> None:
        self.client, self.counters = client, counters

    def measure(self, action: Callable[[], Any]) -> tuple[Any, Cost]:
        git_before, redis_before = self.counters.git, redis_commands(self.client)
        started = time.perf_counter()
        result = action()
        took = time.perf_counter() - started
        cost = Cost(
            took, self.counters.git - git_before, redis_commands(self.client) - redis_before
        )
        return result, cost


def release_repo(root: Path, size: int) -> tuple[Repo, list[str]]:
    services = [f"svc-{index:03d}" for index in range(size)]
    repo = Repo(root, "bench/release")
    spec = {s: {"path": f"{s}/", "manifest": f"k8s/{s}.yaml"} for s in services}
    files = {"shipline.yaml": shipline_yaml(spec)}
    for service in services:
        files[f"{service}/Dockerfile"] = "FROM scratch\nCOPY app.txt /\n"
        files[f"{service}/app.txt"] = f"{service}\n"
        files[f"k8s/{service}.yaml"] = deployment(service, f"{REGISTRY}/{service}:initial")
    repo.commit(files, "initial")
    repo.tag("v1.0.0", repo.log()[0].hexsha)
    repo.commit({f"{services[0]}/app.txt": "2\n"}, "feat(svc): change")
    repo.tag(VERSION, repo.log()[0].hexsha)
    return repo, services


def one_size(root: Path, client: redis.Redis, probe: Probe, size: int) -> dict[str, Cost]:
    repo, services = release_repo(root, size)
    client.flushdb()
    commit = repo.log()[0].hexsha
    settings = settings_for(root / "work", repo)
    costs: dict[str, Cost] = {}
    mirror = Mirror(repo.url, root / "mirrors")
    tag = PushReceived(
        run_id="run-rel",
        provider="github",
        delivery_id="d",
        repository=repo.name,
        ref=f"refs/tags/{VERSION}",
        before="0" * 40,
        after=commit,
    )
    mirror.fetch()
    changes, costs["detection"] = probe.measure(
        lambda: pushed_changes(tag, mirror, settings.repositories[0], "bot@example.com")
    )
    assert isinstance(changes, list) and len(changes) == size, changes

    runs = RunStore(client)
    source = Source(repository=repo.name, commit=commit, ref=f"refs/tags/{VERSION}")
    runs.create("run-rel", trigger="tag", repository=repo.name, ref=source.ref, commit=commit)
    runs.plan("run-rel", services)
    for service in services:
        image = f"{REGISTRY}/{service}"
        runs.apply(change_detected(service, source, image))
        runs.apply(
            ImagePushed(
                run_id="run-rel",
                service=service,
                source=source,
                image_repository=image,
                tags=(VERSION,),
                digest=DIGEST,
            )
        )
    scans = [scan_passed(service, source) for service in services]
    answers, costs["release ready"] = probe.measure(lambda: [runs.apply(s) for s in scans])
    ready = answers[-1]
    assert isinstance(ready, ReleaseReady) and len(ready.images) == size, ready

    writer = GitopsWriter.connect(settings, client)
    writer.release(ready)  # the first release: every service has a deploy to read after it
    again = next_release(repo, ready, "v1.2.0")
    released, costs["release commit"] = probe.measure(lambda: writer.release(again))
    assert [o.type for o in released] == ["ManifestCommitted"] * size, released[:1]

    commits = [o for o in released if isinstance(o, ManifestCommitted)]
    answers, costs["completion"] = probe.measure(lambda: [runs.apply(c) for c in commits])
    completed = answers[-1]
    assert isinstance(completed, RunCompleted) and len(completed.services) == size

    def summarise() -> str:
        return summary(recorded_summary(completed, runs.get("run-rel")))

    text, costs["summary"] = probe.measure(summarise)
    assert VERSION in text or "run-rel" in text or text
    costs["survey"] = survey_after_a_deploy(repo, settings, writer, client, probe, services[0])
    return costs


def survey_after_a_deploy(
    repo: Repo,
    settings: Settings,
    writer: GitopsWriter,
    client: redis.Redis,
    probe: Probe,
    service: str,
) -> Cost:
    """The committer's survey after one deploy commit (it follows every commit: a push
    deploying N services one by one surveys N times)."""
    inventory, cache = InventoryStore(client), DeployedCache(client)
    resurvey(settings, inventory, repo.name, deployed=cache)  # the one after the release
    commit = repo.commit({f"{service}/app.txt": "fixed\n"}, "fix: one service")
    source = Source(repository=repo.name, commit=commit, ref="refs/heads/main")
    writer.deploy(scan_passed(service, source).model_copy(update={"tags": (commit[:12],)}))
    found, cost = probe.measure(lambda: resurvey(settings, inventory, repo.name, deployed=cache))
    assert found is not None and found.error is None, found
    return cost


def next_release(
    repo: Repo, ready: ReleaseReady, version: str, services: list[str] | None = None
) -> ReleaseReady:
    """`ready` for a new commit changing every service, tagged `version`."""
    services = services or sorted(ready.images)
    commit = repo.commit({f"{s}/app.txt": f"{version}\n" for s in services}, f"feat: {version}")
    repo.tag(version, commit)
    source = Source(repository=repo.name, commit=commit, ref=f"refs/tags/{version}")
    images = {
        s: ReleaseImage(image_repository=f"{REGISTRY}/{s}", tag=version, digest=DIGEST)
        for s in services
    }
    return ready.model_copy(update={"source": source, "version": version, "images": images})


def change_detected(service: str, source: Source, image: str) -> ChangeDetected:
    return ChangeDetected(
        run_id="run-rel",
        service=service,
        source=source,
        context=service,
        dockerfile="Dockerfile",
        image_repository=image,
        tags=(VERSION,),
        reason="release",
    )


def scan_passed(service: str, source: Source) -> ScanPassed:
    return ScanPassed(
        run_id="run-rel",
        service=service,
        source=source,
        image_repository=f"{REGISTRY}/{service}",
        tags=(VERSION,),
        digest=DIGEST,
        counts={},
        policy="bench",
    )


def scaling(
    sizes: tuple[int, ...] = SIZES, workdir: Path | None = None, repeats: int = 3
) -> list[Figure]:
    """Per-service cost of each part at each size (the median of `repeats`, the sizes taken
    in turns), and its growth from the first size to the last."""
    with tempfile.TemporaryDirectory(dir=workdir) as temporary:
        root = Path(temporary)
        server = RedisServer(root / "redis")
        server.start()
        client = redis.Redis.from_url(server.url)
        counters = Counters()
        try:
            with counting_git(counters):
                probe = Probe(client, counters)
                runs: dict[int, list[dict[str, Cost]]] = {size: [] for size in sizes}
                for repeat in range(repeats):
                    for size in sizes:
                        where = root / f"{repeat}-{size}"
                        runs[size].append(one_size(where, client, probe, size))
        finally:
            client.close()
            server.stop()
    return figures_of({size: median_costs(costs) for size, costs in runs.items()})


def median_costs(runs: list[dict[str, Cost]]) -> dict[str, Cost]:
    """Each part's median time; its commands from the last run (they do not vary)."""
    return {
        part: Cost(
            statistics.median(r[part].seconds for r in runs),
            runs[-1][part].git,
            runs[-1][part].redis,
        )
        for part in PARTS
    }


def figures_of(results: dict[int, dict[str, Cost]]) -> list[Figure]:
    """Per part: the cost per service at the largest N against the smallest (the growth:
    1x is linear, N_max / N_min quadratic), with every size's and the commands it took."""
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    figures = []
    for part in PARTS:
        divisor = {n: 1 if part in PER_COMMIT else n for n in sizes}
        each = {n: results[n][part].seconds * 1000 / divisor[n] for n in sizes}
        last, unit = results[large][part], "per commit" if part in PER_COMMIT else "per service"
        curve = ", ".join(f"N={n}: {each[n]:.2f} ms" for n in sizes)
        figure = Figure(
            "release scaling",
            f"{PER_COMMIT.get(part, part)}, {unit}, N={large}",
            "ms",
            [each[large]],
            f"{unit}, N={small}",
            [each[small]],
            GROWTH_TARGET if large > small and part not in PER_COMMIT else None,
            f"{curve}; at N={large}, {last.git / divisor[large]:.2f} git and "
            f"{last.redis / divisor[large]:.1f} Redis commands {unit}",
            curve=each,
        )
        figures.append(figure)
        print_figure(figure)
        print(f"    {figure.limit}", flush=True)
    return figures


def release_commit_alone(workdir: Path, rounds: int, size: int) -> tuple[list[float], list[float]]:
    """Seconds for one release commit of `size` manifest edits, and for `size` deploy
    commits of one manifest each, in turns (after one warm-up round of each)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as temporary:
        root = Path(temporary)
        server = RedisServer(root / "redis")
        server.start()
        client = redis.Redis.from_url(server.url)
        try:
            repo, services = release_repo(root, size)
            settings = settings_for(root / "work", repo)
            writer = GitopsWriter.connect(settings, client)
            RunStore(client).create("run-rel", trigger="tag")
            versions = iter(range(2, 10_000))

            def one_commit() -> float:
                version = f"v1.{next(versions)}.0"
                ready = next_release(repo, empty_ready(repo.name), version, services)
                started = time.perf_counter()
                writer.release(ready)
                return time.perf_counter() - started

            def commit_each() -> float:
                commit = repo.commit({f"{s}/app.txt": f"{uuid4()}\n" for s in services}, "feat")
                source = Source(repository=repo.name, commit=commit, ref="refs/heads/main")
                scans = [
                    scan_passed(s, source).model_copy(update={"tags": (f"sha-{commit[:7]}",)})
                    for s in services
                ]
                started = time.perf_counter()
                for scan in scans:
                    writer.deploy(scan)
                return time.perf_counter() - started

            one, each = alternate(rounds, [one_commit, commit_each])
        finally:
            client.close()
            server.stop()
    return one, each


def empty_ready(repository: str) -> ReleaseReady:
    source = Source(repository=repository, commit="0" * 40, ref="refs/tags/v0")
    return ReleaseReady(run_id="run-rel", source=source, version="v0", images={}, held={})


if __name__ == "__main__":
    import sys

    scaling(tuple(int(a) for a in sys.argv[1:]) or SIZES)
