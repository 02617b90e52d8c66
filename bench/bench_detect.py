"""Benchmark: mapping a large push to services, against plain `git diff --name-only`.

Generates a monorepo of 200 services and 10,000 files as a bare repository (with
`git fast-import`), pushes 500 commits onto it (1 to 4 random files each), and times on
that range, in turns:

- baseline: `git diff --name-only <before> <after>` in the detector's mirror;
- services to build: what the detector does for the push once the mirror is fetched:
  ask git whether it is a fast-forward and who made the newest commit, list the changed
  paths with their statuses, apply shipline.yaml's rules (services.detector.changes.observe
  + detect.plan), and check the commit against shipline.yaml (detector.fit), as on every
  push but a repository's first: `before` recorded clean in Redis, so only what the push
  could have broken is checked again (here nothing: no file is deleted), then `after`
  recorded;
- without the checks: services to build minus the checks (what the checks add);
- first push: services to build with no record of `before` (another repository name) in a
  worker that has parsed no manifest yet: every path listed, every manifest read and
  parsed; timed apart, fewer times (its ratio is to the baseline above);
- ChangeDetected events: the same through to the 200 validated events (for reference).

Prints the medians of wall and CPU time (this process and its git children) and their
ratios to the baseline. Targets, on services to build: under 1 s, and within 1.5x of the
baseline's wall time. Exits 1 when a target is missed. Run with `make bench-detect`.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from services.common import project_checks
from services.common.events import PushReceived
from services.common.git import CommitInfo, Mirror
from services.common.project import Project, parse_project
from services.detector.changes import observe
from services.detector.checked import RedisCheckedCommits
from services.detector.detect import Skip, detect, is_pipeline_commit, plan
from services.detector.fit import CheckedCommits, CommitCheck
from services.devenv.redis_server import RedisServer

SERVICES = 200
FILES = 10_000
COMMITS = 500
LIBS = 20
TARGET_SECONDS = 1.0
TARGET_RATIO = 1.5
AUTHOR = "Bench Dev <bench@example.com>"
BOT = "shipline-bot@localhost"
REPOSITORY = "bench/mono"
FIRST = "bench/first-push"  # a name no commit is recorded under


def layout() -> tuple[dict[str, str], str]:
    """The initial tree (path → text) and its shipline.yaml."""
    files: dict[str, str] = {"go.work": "go 1.22\n", "README.md": "# bench monorepo\n"}
    for lib in range(LIBS):
        for index in range(10):
            files[f"libs/lib{lib:02d}/file{index}.go"] = f"package lib{lib}\n"
    lines = ["registry: registry.example.com/bench", "global_paths: [go.work]"]
    lines += ["ignore: ['*.md']", "services:"]
    per_service = (FILES - len(files)) // SERVICES
    for service in range(SERVICES):
        name = f"svc-{service:03d}"
        root = f"services/{name}"
        files[f"{root}/Dockerfile"] = "FROM scratch\n"
        for index in range(per_service - 1):
            files[f"{root}/pkg{index % 6}/file{index}.go"] = f"package {name}\n"
        files[f"k8s/manifests/{name}/deployment.yaml"] = _deployment(name)
        lines += [f"  {name}:", f"    path: {root}/"]
        lines.append(f"    depends_on: [libs/lib{service % LIBS:02d}/]")
    extra = 0
    while len(files) < FILES - 1:
        files[f"docs/page{extra}.md"] = "docs\n"
        extra += 1
    files["shipline.yaml"] = "\n".join(lines) + "\n"
    return files, files["shipline.yaml"]


def _commit(branch: str, index: int, message: str, parent: str | None) -> bytes:
    stamp = 1_700_000_000 + index
    head = f"commit {branch}\nauthor {AUTHOR} {stamp} +0000\ncommitter {AUTHOR} {stamp} +0000\n"
    text = head.encode() + b"data %d\n%s\n" % (len(message), message.encode())
    return text + (f"from {parent}\n".encode() if parent else b"")


def _file(path: str, text: str) -> bytes:
    data = text.encode()
    return b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)


def fast_import(repo: Path, stream: bytes) -> None:
    subprocess.run(["git", "fast-import", "--quiet"], input=stream, cwd=repo, check=True)


def rev_parse(repo: Path, ref: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", ref], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def generate(root: Path, seed: int) -> tuple[Path, str, str]:
    """A bare remote holding the monorepo; returns it and the push's before and after."""
    remote = root / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True)
    files, _ = layout()
    initial = _commit("refs/heads/main", 0, "initial", None)
    fast_import(remote, initial + b"".join(_file(p, t) for p, t in sorted(files.items())))
    before = rev_parse(remote, "refs/heads/main")
    rng = random.Random(seed)
    paths = sorted(p for p in files if p != "shipline.yaml" and not p.startswith("k8s/"))
    chunks = []
    for index in range(1, COMMITS + 1):
        chunks.append(
            _commit("refs/heads/main", index, f"change {index}", before if index == 1 else None)
        )
        for path in rng.sample(paths, rng.randint(1, 4)):
            chunks.append(_file(path, f"{files[path]}// change {index}\n"))
    fast_import(remote, b"".join(chunks))
    return remote, before, rev_parse(remote, "refs/heads/main")


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of the git processes it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def medians(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each action, run in turns so load hits all alike."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in actions}
    for action in actions.values():
        action()  # warm the page cache and git's object lookups once
    for _ in range(runs):
        for name, action in actions.items():
            started, cpu = time.perf_counter(), cpu_seconds()
            action()
            times[name].append((time.perf_counter() - started, cpu_seconds() - cpu))
    return {
        name: (statistics.median(w for w, _ in pairs), statistics.median(c for _, c in pairs))
        for name, pairs in times.items()
    }


def bench_push(before: str, after: str, repository: str = REPOSITORY) -> PushReceived:
    """The generated push, as the gateway would queue it."""
    return PushReceived(
        run_id="bench",
        provider="github",
        delivery_id="bench",
        repository=repository,
        ref="refs/heads/main",
        before=before,
        after=after,
    )


def is_bot(commit: CommitInfo) -> bool:
    return is_pipeline_commit(commit, BOT)


def mapping(
    mirror: Mirror, push: PushReceived, project: Project, records: CheckedCommits
) -> list[str]:
    """Git's answers and the rules: which services build, and why; then the commit checked
    against shipline.yaml, as the detector does before it sends them (and recorded)."""
    with CommitCheck(
        mirror, push.repository, push.after, project, records=records, before=push.before
    ) as fit:
        seen = observe(mirror, push, "main", "main", is_bot)
        builds = plan(push, project, seen.paths, seen.commits, BOT, seen.previous)
        assert not isinstance(builds, Skip), builds
        fit.require(sorted(builds), since_before=seen.since_before)
    return sorted(builds)


def first_push(
    mirror: Mirror, push: PushReceived, project: Project, records: CheckedCommits
) -> list[str]:
    """The mapping of a push whose `before` has no record, in a fresh worker."""
    assert push.repository == FIRST
    project_checks._CHECKED.clear()  # manifests parsed by an earlier run
    return mapping(mirror, push, project, records)


def record_clean(mirror: Mirror, commit: str, project: Project, records: CheckedCommits) -> None:
    """`commit` checked whole and recorded clean, as the push that brought it left it."""
    with CommitCheck(mirror, REPOSITORY, commit, project, records=records) as fit:
        assert fit.problems() == []


def _deployment(service: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {service}}}\nspec:\n"
        f"  template:\n    spec:\n      containers:\n        - name: {service}\n"
        f"          image: registry.example.com/bench/{service}:1\n"
    )


def unchecked(mirror: Mirror, push: PushReceived, project: Project) -> list[str]:
    """The mapping without the shipline.yaml checks (a reference: what the checks add)."""
    seen = observe(mirror, push, "main", "main", is_bot)
    builds = plan(push, project, seen.paths, seen.commits, BOT, seen.previous)
    assert not isinstance(builds, Skip), builds
    return sorted(builds)


def detector(mirror: Mirror, push: PushReceived, project: Project) -> list[str]:
    """The same, through to the validated ChangeDetected events."""
    seen = observe(mirror, push, "main", "main", is_bot)
    result = detect(push, project, seen.paths, seen.commits, "main", BOT, seen.previous)
    assert not isinstance(result, Skip), result
    return [change.service for change in result]


def git_diff(mirror: Mirror, before: str, after: str) -> list[str]:
    output = subprocess.run(
        ["git", "diff", "--name-only", before, after],
        cwd=mirror.path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return output.splitlines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="timed runs of each (median)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        remote, before, after = generate(root, args.seed)
        mirror = Mirror(f"file://{remote}", root / "mirrors")
        mirror.fetch()
        print(
            f"generated {SERVICES} services, {FILES} files, {COMMITS} commits "
            f"in {time.perf_counter() - started:.1f}s"
        )
        with RedisServer(root / "redis") as server:
            client = redis.Redis.from_url(server.url)
            took = timed(mirror, before, after, RedisCheckedCommits(client), args.runs)
            client.close()
    baseline, baseline_cpu = took["git diff --name-only"]
    print(f"{'':34s} {'wall (median)':>18s} {'CPU incl. git (median)':>26s}")
    for name, (wall, cpu) in took.items():
        print(
            f"{name:34s} {wall * 1000:7.1f} ms {wall / baseline:5.2f}x"
            f" {cpu * 1000:14.1f} ms {cpu / baseline_cpu:5.2f}x"
        )
    ours = took["shipline: services to build"][0]
    ratio = ours / baseline
    print(
        f"target: services to build < {TARGET_SECONDS:.0f} s and <= {TARGET_RATIO}x git diff"
        f" (wall, {args.runs} runs each): {ours:.3f} s, {ratio:.2f}x"
    )
    met = ours < TARGET_SECONDS and ratio <= TARGET_RATIO
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


def timed(
    mirror: Mirror, before: str, after: str, records: CheckedCommits, runs: int
) -> dict[str, tuple[float, float]]:
    """The medians of main's actions, `before` recorded clean first."""
    project = parse_project(layout()[1])
    push, first = bench_push(before, after), bench_push(before, after, FIRST)
    changed = git_diff(mirror, before, after)
    record_clean(mirror, before, project, records)
    services = detector(mirror, push, project)
    assert services == mapping(mirror, push, project, records) == expected(project, changed)
    assert services == first_push(mirror, first, project, records)
    print(f"push: {len(changed)} changed paths -> {len(services)} services to build")
    steady = medians(
        {
            "git diff --name-only": lambda: git_diff(mirror, before, after),
            "shipline: services to build": lambda: mapping(mirror, push, project, records),
            "shipline: without the checks": lambda: unchecked(mirror, push, project),
            "shipline: ChangeDetected events": lambda: detector(mirror, push, project),
        },
        runs,
    )
    # Apart and fewer times: half a second of parsing between the other runs disturbs them.
    whole = medians(
        {"shipline: first push": lambda: first_push(mirror, first, project, records)},
        first_push_runs(runs),
    )
    return {**steady, **whole}


def first_push_runs(runs: int) -> int:
    return max(3, runs // 3)


def expected(project: Project, changed: list[str]) -> list[str]:
    """The services a slow, obvious reading of the rules picks (a check, not timed)."""
    picked = set()
    for path in changed:
        if path.endswith(".md"):
            continue
        if path == "go.work":
            return sorted(project.services)
        for name, spec in project.services.items():
            watched = (spec.path, *spec.depends_on)
            if any(path.startswith(prefix) for prefix in watched):
                picked.add(name)
    return sorted(picked)


if __name__ == "__main__":
    sys.exit(main())
