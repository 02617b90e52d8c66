"""Benchmark: the builder stage against the same `docker build` + `docker push` by hand.

Starts what the tests use (Redis, the private dockerd, a registry, the busybox base image)
and one real `shipline worker builder` (concurrency 8), then measures in the same run:

- overhead: the microbank sample's user-service, a new commit each round. Shipline: from
  publishing its ChangeDetected to the ImagePushed (git archive, .dockerignore, registry
  check, cache source pull, BuildKit build, push of `sha-*` and `latest`). Baseline: the
  docker CLI building the same checkout with BuildKit (bench/docker_cli.py), the same tags
  and labels, and pushing both tags.
  Target: the median ratio at most 1.15.
- concurrency: 8 services whose Dockerfiles `RUN sleep 2`, changed by one commit, against
  one such service changed alone, both through the pipeline. Target: 8 builds finish in
  under 1.5x the time of one.

Rounds alternate between the two sides so drift hits both alike. Prints medians and ratios;
exits 1 when a target is missed. Run with `make bench-build`.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import git
import yaml

from bench.docker_cli import NoBuildKitCli, buildkit_cli
from services.builder.docker_engine import DockerEngine
from services.builder.plan import oci_labels
from services.common.events import ChangeDetected, Source
from services.common.logging import configure_logging
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.demo.scenario import SampleMonorepo
from services.devenv.base_image import ensure_base_image
from services.devenv.private_dockerd import PrivateDockerd, state_dir_under
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry

TARGET_OVERHEAD = 1.15
TARGET_CONCURRENCY = 1.5
SERVICES = 8
SLEEP_SECONDS = 2
ROOT = Path(__file__).resolve().parents[1]
AUTHOR = git.Actor("Bench Dev", "bench@example.com")


class Bench:
    """The components, one builder worker, and a clock from ChangeDetected to ImagePushed."""

    def __init__(self, workdir: Path, sample: SampleMonorepo, sleepers: Path) -> None:
        self.workdir = workdir
        self.sample = sample
        self.sleepers = sleepers
        self.redis = RedisServer(workdir / "redis").start()
        self.engine = PrivateDockerd.ensure(state_dir_under(ROOT))
        self.client = self.engine.client()
        self.base_image = ensure_base_image(self.client)
        self.registry = Registry(workdir / "registry").start()
        repositories = [
            {"name": sample.name, "url": sample.url, "webhook_secret": "x" * 20},
            {"name": "bench/sleepers", "url": f"file://{sleepers}", "webhook_secret": "x" * 20},
        ]
        config: dict[str, object] = {
            "workdir": str(workdir / "state"),
            "redis_url": self.redis.url,
            "repositories": repositories,
            "concurrency": {"builder": SERVICES},
            "log_format": "json",
        }
        self.config = workdir / "server.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.runtime = Runtime(Settings.model_validate(config))
        self.env = {
            **os.environ,
            "SHIPLINE_CONFIG": str(self.config),
            "DOCKER_HOST": self.engine.host,
        }
        self.worker: subprocess.Popen[bytes] | None = None

    def start_worker(self) -> None:
        with (self.workdir / "worker.log").open("ab") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", "builder"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def close(self) -> None:
        if self.worker is not None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            self.worker.wait(timeout=60)
        self.runtime.celery.close()
        self.runtime.redis.close()
        self.client.close()
        self.registry.stop()
        self.redis.stop()
        self.engine.stop()

    def pipeline(self, changes: list[ChangeDetected]) -> float:
        """Seconds from publishing the ChangeDetected events to the last ImagePushed."""
        run_id = changes[0].run_id
        self.runtime.runs.create(run_id, trigger="bench", repository=changes[0].source.repository)
        self.runtime.runs.plan(run_id, [change.service for change in changes])
        started = time.time()
        for change in changes:
            self.runtime.bus.publish(change)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            events = [event for _, event in self.runtime.event_log.for_run(run_id)]
            failed = [e for e in events if e["type"] == "StageFailed"]
            if failed:
                raise RuntimeError(f"build failed: {failed[0]['message']}")
            pushed = [e for e in events if e["type"] == "ImagePushed"]
            if len(pushed) == len(changes):
                finished = max(datetime.fromisoformat(str(e["occurred_at"])) for e in pushed)
                return finished.timestamp() - started
            time.sleep(0.01)
        raise RuntimeError(f"run {run_id} did not finish; see {self.workdir / 'worker.log'}")


def change(
    repository: str, image: str, service: str, context: str, commit: str, run_id: str = ""
) -> ChangeDetected:
    return ChangeDetected(
        run_id=run_id or f"bench-{uuid.uuid4().hex[:10]}",
        service=service,
        source=Source(repository=repository, commit=commit, ref="refs/heads/main"),
        context=context,
        dockerfile="Dockerfile",
        image_repository=image,
        tags=(f"sha-{commit[:7]}", "latest"),
        reason="paths",
    )


def docker_by_hand(bench: Bench, directory: Path, image: str, commit: str) -> float:
    """`docker build` + `docker push` of both tags, as a CI job would run them."""
    template = change(bench.sample.name, image, "user-service", "user_service", commit)
    labels = [f"--label={k}={v}" for k, v in oci_labels(template, bench.sample.url).items()]
    tags = template.tags
    env = {**bench.env, "DOCKER_BUILDKIT": "1"}
    docker = buildkit_cli()
    started = time.time()
    build = [docker, "build", "--quiet", "--network=none", *labels]  # RUN as Shipline runs it
    _run([*build, *(f"--tag={image}:{tag}" for tag in tags), str(directory)], env)
    for tag in tags:
        _run([docker, "push", "--quiet", f"{image}:{tag}"], env)
    return time.time() - started


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {result.stderr.strip()[-500:]}")


def alternate(rounds: int, sides: list[Callable[[], float]]) -> list[list[float]]:
    """Seconds of each side per round, after one warm-up round; the order rotates each round
    so that drift in the machine's load hits every side alike."""
    results: list[list[float]] = [[] for _ in sides]
    for index in range(rounds + 1):
        for offset in range(len(sides)):
            side = (index + offset) % len(sides)
            seconds = sides[side]()
            if index:
                results[side].append(seconds)
    return results


def overhead(bench: Bench, rounds: int) -> list[list[float]]:
    """[pipeline, by hand]: one service, a new commit for each build."""
    ours = f"{bench.registry.host}/bench/user-service"
    hand = f"{bench.registry.host}/bench-hand/user-service"
    directory = bench.sample.clone / "user_service"

    def new_commit() -> str:
        text = f"change {uuid.uuid4()}"
        return bench.sample.append("user_service/app.txt", text, "bench").after

    def pipeline() -> float:
        event = change(bench.sample.name, ours, "user-service", "user_service", new_commit())
        return bench.pipeline([event])

    def by_hand() -> float:
        return docker_by_hand(bench, directory, hand, new_commit())

    return alternate(rounds, [pipeline, by_hand])


def sleeper(base_image: str) -> str:
    """A Dockerfile whose build waits 2 s; each one differs, so no layer cache answers it."""
    return f"FROM {base_image}\nRUN echo {uuid.uuid4().hex} && sleep {SLEEP_SECONDS}\n"


def sleepers_commit(clone: Path, base_image: str, services: list[str]) -> str:
    """One commit changing the Dockerfile of each of `services`."""
    with git.Repo(clone) as repo:
        for service in services:
            (clone / service).mkdir(parents=True, exist_ok=True)
            (clone / service / "Dockerfile").write_text(sleeper(base_image))
        repo.git.add("--all")
        commit = repo.index.commit("bench", author=AUTHOR, committer=AUTHOR)
        repo.git.push("origin", "HEAD:refs/heads/main")
        return commit.hexsha


def concurrency(bench: Bench, clone: Path, rounds: int) -> list[list[float]]:
    """[8 through the pipeline, 1 through the pipeline, 8 on the engine, 1 on the engine].

    The engine alone (threads calling the builder's engine adapter: no queue, git or
    registry check) shows how far the engine itself scales on this machine, the floor under
    the pipeline's ratio.
    """
    names = [f"svc-{index}" for index in range(SERVICES)]
    engine = DockerEngine(bench.client)

    def pipeline(services: list[str]) -> float:
        commit = sleepers_commit(clone, bench.base_image, services)
        run_id = f"bench-{uuid.uuid4().hex[:10]}"
        image = f"{bench.registry.host}/sleepers"
        events = [change("bench/sleepers", f"{image}/{s}", s, s, commit, run_id) for s in services]
        return bench.pipeline(events)

    def on_engine(service: str) -> None:
        dockerfile = sleeper(bench.base_image) + 'LABEL org.opencontainers.image.created="now"\n'
        data = dockerfile.encode()
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        image = f"{bench.registry.host}/floor/{service}"
        tags = ["sha-0000000", "latest"]
        engine.build_and_push(context.getvalue(), "Dockerfile", image, tags, {}, None)

    def engine_only(services: list[str]) -> float:
        started = time.time()
        threads = [threading.Thread(target=on_engine, args=(s,)) for s in services]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.time() - started

    return alternate(
        rounds,
        [
            lambda: pipeline(names),
            lambda: pipeline(names[:1]),
            lambda: engine_only(names),
            lambda: engine_only(names[:1]),
        ],
    )


def report(
    name: str,
    ours: list[float],
    baseline: list[float],
    label: str,
    target: float | None,
    strict: bool = False,
) -> bool:
    """One line of medians and their ratio against the target, then the raw runs."""
    ratio = statistics.median(ours) / statistics.median(baseline)
    passed = target is None or (ratio < target if strict else ratio <= target)
    verdict = ""
    if target is not None:
        verdict = f" (target {'<' if strict else '<='} {target}x) " + ("ok" if passed else "MISSED")
    print(
        f"{name:<36} median {statistics.median(ours):6.2f}s | {label} "
        f"{statistics.median(baseline):6.2f}s | ratio {ratio:4.2f}x{verdict}"
    )
    print(f"{'':<36} runs {_seconds(ours)} | {label} {_seconds(baseline)}")
    return passed


def _seconds(values: list[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds per benchmark")
    args = parser.parse_args()
    try:
        buildkit_cli()
    except NoBuildKitCli as exc:
        print(exc)
        return 2
    configure_logging("console", "WARNING")
    workdir = ROOT / ".shipline" / "bench-build"  # kept until the next run: logs, worker.log
    shutil.rmtree(workdir, ignore_errors=True)
    sample = SampleMonorepo(workdir / "sample")
    sleepers = workdir / "sleepers.git"
    git.Repo.init(sleepers, bare=True, initial_branch="main").close()
    clone = workdir / "sleepers"
    with git.Repo.init(clone, initial_branch="main") as repo:
        repo.create_remote("origin", f"file://{sleepers}")
    bench = Bench(workdir, sample, sleepers)
    try:
        sample.create(f"{bench.registry.host}/bench", bench.base_image)
        bench.start_worker()
        print(f"builder worker: concurrency {SERVICES}; engine {bench.engine.host}")
        ours, hand = overhead(bench, args.rounds)
        eight, one, floor_eight, floor_one = concurrency(bench, clone, max(3, args.rounds // 2))
    finally:
        bench.close()
    ok = report(
        "overhead ChangeDetected→ImagePushed", ours, hand, "by hand", TARGET_OVERHEAD, False
    )
    ok &= report(
        f"{SERVICES} services × RUN sleep {SLEEP_SECONDS}",
        eight,
        one,
        "one build",
        TARGET_CONCURRENCY,
        True,
    )
    report("  the engine alone, from threads", floor_eight, floor_one, "one build", None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
