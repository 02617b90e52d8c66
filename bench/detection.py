"""The detector's benchmark (bench/bench_detect.py) as rows of the suite's table: mapping a
500-commit push on a 200-service, 10,000-file monorepo to services, against `git diff`:
as on every push (its `before` checked clean), and as on a repository's first push."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bench import bench_detect as detect
from bench.figures import Figure, Target, print_figure
from services.common.git import Mirror
from services.common.project import parse_project
from services.detector.checked import RedisCheckedCommits
from services.devenv.redis_server import RedisServer

TARGET = Target(detect.TARGET_RATIO)


def detection(rounds: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as tmp:
        root = Path(tmp)
        remote, before, after = detect.generate(root, seed=7)
        mirror = Mirror(f"file://{remote}", root / "mirrors")
        mirror.fetch()
        project = parse_project(detect.layout()[1])
        push = detect.bench_push(before, after)
        first = detect.bench_push(before, after, detect.FIRST)
        with RedisServer(root / "redis") as server:
            client = redis.Redis.from_url(server.url)
            records = RedisCheckedCommits(client)
            detect.record_clean(mirror, before, project, records)
            walls = wall_times(
                {
                    "git diff": lambda: detect.git_diff(mirror, before, after),
                    "services": lambda: detect.mapping(mirror, push, project, records),
                    "unchecked": lambda: detect.unchecked(mirror, push, project),
                    "events": lambda: detect.detector(mirror, push, project),
                },
                rounds,
            )
            # apart: half a second of parsing between the other runs would disturb them
            walls |= wall_times(
                {"first": lambda: detect.first_push(mirror, first, project, records)},
                detect.first_push_runs(rounds),
            )
            client.close()
    scale = f"{detect.COMMITS} commits, {detect.SERVICES} services, {detect.FILES:,} files"
    limit = "git's rev-list and diff-tree on the mirror; then the rules, in Python"
    diff_ms = [w * 1000 for w in walls["git diff"]]

    def against_diff(name: str, key: str, limit: str, target: Target | None = None) -> Figure:
        runs = [w * 1000 for w in walls[key]]
        return Figure("detection", name, "ms", runs, "git diff --name-only", diff_ms, target, limit)

    first = "no record of `before`: every path listed, every manifest read and parsed"
    figures = [
        against_diff(
            f"push → services to build ({scale})",
            "services",
            limit + f" (also < {detect.TARGET_SECONDS:g} s); `before` recorded clean",
            TARGET,
        ),
        against_diff("push → services to build, a repository's first push", "first", first),
        against_diff(
            "push → services to build, without the shipline.yaml checks",
            "unchecked",
            "a reference: the first row less the checks",
        ),
        against_diff(
            "push → validated ChangeDetected events",
            "events",
            "the same, plus one pydantic event per service",
        ),
    ]
    for figure in figures:
        print_figure(figure)
    return figures


def wall_times(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Wall seconds of each action per run, in turns, after one warm-up of each."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for action in actions.values():
        action()
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - started)
    return times
