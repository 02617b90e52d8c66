"""Benchmark: what judging a push on each service's deployed commit adds to detection.

The monorepo and push of bench_detect.py (200 services, 10,000 files, 500 commits pushed),
timed in turns against plain `git diff --name-only <before> <after>`:

- services to build: bench_detect's mapping (the push alone, with the checks);
- + deployed, all at before: the same, then compared with what each service runs, every
  service deployed from `before` (the steady state: the diff from `before` is reused, no
  git process added);
- + deployed, 200 commits: every service deployed from a different commit of the 500
  pushed (one `git diff-tree --stdin` of 200 pairs);
- + deployed, 200, carried over: the same, in a worker that compared those commits with
  `before` at the push before (no git process: the push only added commits);
- gitops log, whole / one new commit: the deployed commits read from a gitops branch of
  2,000 deploy commits, from nothing (a cold cache) and from the cached head (the usual
  push: one deploy since the last one).

Prints medians of wall and CPU time and their ratio to the baseline. No target: a
reference for the figures in docs/shipline-yaml.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.bench_detect import (
    BOT,
    REPOSITORY,
    SERVICES,
    bench_push,
    fast_import,
    generate,
    git_diff,
    is_bot,
    layout,
    mapping,
    medians,
    record_clean,
    rev_parse,
)
from bench.figures import Figure, print_figure
from services.committer.messages import deploy_message
from services.common.events import PushReceived, Source
from services.common.git import Mirror
from services.common.pins import PinStore
from services.common.project import Project, parse_project
from services.detector.against_deployed import against_deployed
from services.detector.attempts import SentBuilds
from services.detector.changes import observe
from services.detector.checked import RedisCheckedCommits
from services.detector.deployed import DeployedFrom, DeployedState, read_state
from services.detector.detect import Skip, plan
from services.devenv.redis_server import RedisServer

GITOPS_COMMITS = 2000
BASELINE = "git diff --name-only"


def judged(
    mirror: Mirror,
    push: PushReceived,
    project: Project,
    state: DeployedState,
    pins: PinStore,
    sent: SentBuilds,
    steady: bool = False,
) -> list[str]:
    """The push's services, then corrected by what each service runs (as the detector does);
    `steady`: with what this worker compared at `before` carried over."""
    seen = observe(mirror, push, "main", "main", is_bot)
    today = plan(push, project, seen.paths, seen.commits, BOT, seen.previous)
    assert not isinstance(today, Skip), today
    since = seen.since_before
    known = {push.before: list(since.status)} if since is not None else {}
    builds = against_deployed(
        mirror, push, project, today, state, pins, sent, known=known, steady=steady
    )
    return sorted(builds)


def deployed_at(commits: list[str]) -> DeployedState:
    """Service i deployed from commits[i % len(commits)]."""
    services = {}
    for index in range(SERVICES):
        commit = commits[index % len(commits)]
        services[f"svc-{index:03d}"] = DeployedFrom(repository=REPOSITORY, commit=commit)
    return DeployedState(head="0" * 40, services=services)


def gitops_repository(root: Path, source_commits: list[str]) -> tuple[Mirror, str]:
    """A gitops branch of GITOPS_COMMITS deploy commits, each naming one service; the mirror
    and the head before the last commit."""
    remote = root / "gitops.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True)
    chunks = []
    for index in range(GITOPS_COMMITS):
        service = f"svc-{index % SERVICES:03d}"
        commit = source_commits[index % len(source_commits)]
        source = Source(repository=REPOSITORY, commit=commit, ref="refs/heads/main")
        message = deploy_message(service, f"registry.example.com/bench/{service}:{index}", source)
        stamp = 1_700_000_000 + index
        who = f"Bot <{BOT}> {stamp} +0000"
        data = message.encode()
        body = f"{service} {index}\n".encode()
        chunks.append(
            f"commit refs/heads/main\nauthor {who}\ncommitter {who}\n".encode()
            + b"data %d\n%s\n" % (len(data), data)
            + b"M 100644 inline k8s/%s.yaml\ndata %d\n%s\n" % (service.encode(), len(body), body)
        )
    fast_import(remote, b"".join(chunks))
    mirror = Mirror(f"file://{remote}", root / "mirrors")
    mirror.fetch()
    return mirror, rev_parse(remote, "refs/heads/main~1")


def measure(runs: int, seed: int = 7) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each way of judging the push, and of the baseline."""
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as tmp:
        root = Path(tmp)
        remote, before, after = generate(root, seed)
        mirror = Mirror(f"file://{remote}", root / "mirrors")
        mirror.fetch()
        pushed = subprocess.run(
            ["git", "rev-list", f"{before}..{after}"],
            cwd=remote,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        gitops, previous_head = gitops_repository(root, pushed)
        project = parse_project(layout()[1])
        push = bench_push(before, after)
        with RedisServer(root / "redis") as server:
            client = redis.Redis.from_url(server.url)
            records = RedisCheckedCommits(client)
            pins, sent = PinStore(client), SentBuilds(client)
            record_clean(mirror, before, project, records)
            at_before, spread = deployed_at([before]), deployed_at(pushed[:SERVICES])
            whole = read_state(gitops, "main", None)
            assert len(whole.services) == SERVICES
            older = whole.model_copy(update={"head": previous_head})  # one deploy behind
            assert read_state(gitops, "main", older) == whole
            today = mapping(mirror, push, project, records)
            assert judged(mirror, push, project, at_before, pins, sent) == today
            to_before = bench_push(before, before)  # compared at `before` by the push before
            against_deployed(mirror, to_before, project, {}, spread, pins, sent)
            carried = judged(mirror, push, project, spread, pins, sent, steady=True)
            full = judged(mirror, push, project, spread, pins, sent)
            # Carried over, a service the push changed back to its deployed content (here:
            # deployed from a commit of the push itself) is still rebuilt, as the push says.
            assert set(full) <= set(carried) and set(carried) - set(full) <= set(today)
            print(
                f"push: {len(today)} services changed; against 200 deployed commits: "
                f"{len(full)} differ, {len(carried)} built when carried over"
            )
            started = time.perf_counter()
            took = medians(
                {
                    BASELINE: lambda: git_diff(mirror, before, after),
                    "services to build": lambda: mapping(mirror, push, project, records),
                    "+ deployed, all at before": lambda: judged(
                        mirror, push, project, at_before, pins, sent
                    ),
                    "+ deployed, 200 commits": lambda: judged(
                        mirror, push, project, spread, pins, sent
                    ),
                    "+ deployed, 200, carried over": lambda: judged(
                        mirror, push, project, spread, pins, sent, steady=True
                    ),
                    "gitops log, whole": lambda: read_state(gitops, "main", None),
                    "gitops log, one new commit": lambda: read_state(gitops, "main", older),
                },
                runs,
            )
            client.close()
    print(f"timed in {time.perf_counter() - started:.1f}s")
    return took


def converge(runs: int) -> list[Figure]:
    """The suite's rows: each way of judging against `git diff --name-only` (medians)."""
    took = measure(runs)
    baseline = [took.pop(BASELINE)[0] * 1000]
    limit = "the push's mapping, then what each service runs (docs/shipline-yaml.md)"
    figures = []
    for name, (wall, _) in took.items():
        figure = Figure("converge", name, "ms", [wall * 1000], BASELINE, baseline, limit=limit)
        print_figure(figure)
        figures.append(figure)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each (median)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    took = measure(args.runs, args.seed)
    baseline, baseline_cpu = took[BASELINE]
    print(f"{'':30s} {'wall (median)':>18s} {'CPU incl. git (median)':>26s}")
    for name, (wall, cpu) in took.items():
        print(
            f"{name:30s} {wall * 1000:7.1f} ms {wall / baseline:5.2f}x"
            f" {cpu * 1000:14.1f} ms {cpu / baseline_cpu:5.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
