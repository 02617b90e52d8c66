"""Benchmark: the latency of the endpoints that read the run store, with a short history
against a long one, over 200 services.

A Redis of its own is filled through the real RunStore (the calls and scripts the workers'
events go through: create, plan, the projection of ImagePushed, ManifestCommitted or
StageFailed, and the RunCompleted it returns), each run deploying the next 4 of the 200
services in turn (so 100 runs reach every service twice), every tenth run failed and the
newest few still running; the repository's 200 services are surveyed into
the inventory as the committer records them, and the run indexes are built as the
reconciler builds them. Then an in-process ASGI client (the real gateway app) asks each
endpoint `requests` times, of the histories in turns (each on a Redis of its own, not
snapshotting); the figure is the median latency at the longest history (10,000 runs by
default) against the shortest (100), per endpoint: growth ≤ 1.5x; the sizes between (1,000)
are points of the growth chart. The pages
asked for are full at every size and followed by one more run (`?service=…&limit=1`: the
short history has 2 runs of each service; `?status=failed&limit=9`: it has 10 failed; the
dashboard's runs view of 50), so both sides read as many runs: the same answer over more
history.

    python -m bench.bench_run_store --rounds 15
    python -m bench.bench_run_store --runs 100 2000  # two smaller histories
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from bench.figures import Figure, Target, alternate, print_figure
from services.common.events import (
    ImagePushed,
    ManifestCommitted,
    RunCompleted,
    Source,
    StageFailed,
)
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.logging import configure_logging
from services.common.run_index import RunIndex
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore, ServiceRow, Survey
from services.common.settings import Repository, Settings
from services.devenv.redis_server import RedisServer
from services.gateway.app import create_app

REPOSITORY = "acme/fleet"
REGISTRY = "registry.example.com/fleet"
SERVICES = 200
SERVICES_PER_RUN = 4
HISTORIES = (100, 1_000, 10_000)  # the row: the last against the first
STILL_RUNNING = 5  # the newest runs, left in progress
FILL_THREADS = 8
TARGET = Target(1.5)
DIGEST = "sha256:" + "ab" * 32
ENDPOINTS = {
    "GET /api/v1/services": "/api/v1/services",
    "GET /api/v1/runs?service=": "/api/v1/runs?service=svc-007&limit=1",
    "GET /api/v1/runs?status=failed": "/api/v1/runs?status=failed&limit=9",
    "GET /metrics": "/metrics",
    "dashboard (/ and its runs view)": "/",
}


def service_name(n: int) -> str:
    return f"svc-{n % SERVICES:03d}"


def services_of(n: int) -> list[str]:
    """Run `n`'s services: the next SERVICES_PER_RUN in turn (100 runs cover all 200 twice)."""
    return [service_name(n * SERVICES_PER_RUN + k) for k in range(SERVICES_PER_RUN)]


def source(n: int) -> Source:
    return Source(repository=REPOSITORY, commit=f"{n:040x}", ref="refs/heads/main")


def one_run(runs: RunStore, n: int, still_running: bool) -> None:
    """Run `n`, through the store as a push's events reach it."""
    run_id, services = f"bench-{n:06d}", services_of(n)
    runs.create(run_id, trigger="push", repository=REPOSITORY, commit=f"{n:040x}")
    runs.plan(run_id, services)
    for service in services:
        image = {"image_repository": f"{REGISTRY}/{service}", "tags": (f"sha-{n:07x}",)}
        pushed = ImagePushed(
            run_id=run_id, service=service, source=source(n), digest=DIGEST, **image
        )
        runs.apply(pushed)
        if still_running:
            continue
        completed = runs.apply(ended(n, service, pushed.image))
        if isinstance(completed, RunCompleted):
            runs.apply(completed)


def ended(n: int, service: str, image: str) -> ManifestCommitted | StageFailed:
    """How run `n`'s service ends: every tenth run's scan fails, the others deploy."""
    run_id = f"bench-{n:06d}"
    if n % 10 == 9:
        return StageFailed(
            run_id=run_id, service=service, stage="scanner", error_class="E", message="no"
        )
    return ManifestCommitted(
        run_id=run_id,
        service=service,
        source=source(n),
        manifest_path=f"k8s/{service}.yaml",
        old_image=f"{REGISTRY}/{service}:old",
        new_image=image,
        digest=DIGEST,
        gitops_repository=REPOSITORY,
        gitops_commit="d" * 40,
        branch="main",
    )


def fill(client: redis.Redis, first: int, last: int, total: int) -> None:
    """Runs `first`..`last - 1` of a history of `total` (its newest STILL_RUNNING running)."""
    runs = RunStore(client)
    with ThreadPoolExecutor(FILL_THREADS) as pool:
        list(pool.map(lambda n: one_run(runs, n, n >= total - STILL_RUNNING), range(first, last)))


def survey(client: redis.Redis) -> None:
    rows = tuple(
        ServiceRow(
            service=service_name(n),
            image=f"{REGISTRY}/{service_name(n)}:sha-0000000",
            manifest=f"k8s/{service_name(n)}.yaml",
            gitops_repository=REPOSITORY,
            gitops_commit="d" * 40,
            image_repository=f"{REGISTRY}/{service_name(n)}",
        )
        for n in range(SERVICES)
    )
    InventoryStore(client).record(Survey(repository=REPOSITORY, commit="c" * 40, services=rows))


def index(client: redis.Redis) -> None:
    """The reconciler's rebuild, to the end (a store filled by this version has nothing
    to add: it walks the history once and records it)."""
    runs_index = RunIndex(client, DEFAULT_KEYSPACE)
    while runs_index.rebuild_step(1000) is not None:
        pass


def timed(api: TestClient, path: str) -> float:
    """Milliseconds for one request; the dashboard's also loads its runs view."""
    paths = [path, "/api/v1/runs?limit=50"] if path == "/" else [path]
    started = time.perf_counter()
    for one in paths:
        response = api.get(one)
        assert response.status_code == 200, (one, response.status_code, response.text)
    return (time.perf_counter() - started) * 1000


def gateway(url: str, workdir: Path) -> TestClient:
    settings = Settings(
        redis_url=url,
        workdir=workdir,
        repositories=[Repository(name=REPOSITORY, url="file:///nowhere", webhook_secret="x" * 20)],
        public_read=True,
        reconciler={"enabled": False},
    )
    return TestClient(create_app(settings))


def history(server: RedisServer, runs: int, say: Callable[[str], None]) -> None:
    """`runs` runs over the services, surveyed and indexed, on `server`."""
    client = redis.Redis.from_url(server.url)
    client.config_set("save", "")  # no snapshot forked in the middle of a measurement
    started = time.monotonic()
    survey(client)
    fill(client, 0, runs, runs)
    index(client)
    say(f"run store: {runs:,} runs written in {time.monotonic() - started:.1f} s")
    client.close()


def run_store_growth(
    requests: int = 15,
    histories: tuple[int, ...] = HISTORIES,
    say: Callable[[str], None] = print,
) -> list[Figure]:
    """A Redis server per history; each endpoint asked of every gateway in turns. A row per
    endpoint compares the longest history with the shortest; its curve holds every size."""
    sizes = sorted(histories)
    short, long = sizes[0], sizes[-1]
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-runstore-") as tmp, ExitStack() as opened:
        root = Path(tmp)
        servers = [opened.enter_context(RedisServer(root / f"runs-{n}")) for n in sizes]
        for server, runs in zip(servers, sizes, strict=True):
            history(server, runs, say)
        apis = [
            opened.enter_context(gateway(server.url, root / f"gateway-{n}"))
            for server, n in zip(servers, sizes, strict=True)
        ]
        for name, path in ENDPOINTS.items():
            # the warm-up round: the metrics' first scrape reads every settled run
            latencies = alternate(requests, [partial(timed, api, path) for api in apis])
            curve = {n: statistics.median(ms) for n, ms in zip(sizes, latencies, strict=True)}
            between = ", ".join(f"{n:,} runs {curve[n]:.1f} ms" for n in sizes[1:-1])
            figure = Figure(
                benchmark="runstore",
                name=f"{name} at {long:,} runs",
                unit="ms",
                runs=latencies[-1],
                baseline=f"at {short:,} runs",
                baseline_runs=latencies[0],
                target=TARGET,
                limit="work proportional to the page (run indexes, run_index.py)"
                + (f"; at {between}" if between else ""),
                curve=curve,
            )
            print_figure(figure)
            figures.append(figure)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="requests per endpoint")
    parser.add_argument("--runs", type=int, nargs="+", default=HISTORIES, help="two sizes or more")
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")
    run_store_growth(args.rounds, tuple(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
