"""The N-service release: a release tag on a monorepo of N small services builds them all.

A fleet of N services (200 by default) whose Dockerfiles only COPY a file onto the suite's
busybox base image; each round changes every service's file in one commit, tags it with a
new version and sends the tag's webhook. A real Shipline (bench/stack.py: the gateway, one
worker process per stage, scanner concurrency 2) builds, pushes and scans every service,
then commits the N manifest edits in one release commit. Measured, in the same run: the
tag webhook → the run completed with 1, 4 and 8 builder processes (concurrency 1 each),
against bench/baseline_pipeline.sh over the same services one after another; the time
until the last image is pushed and until the release commit; and the release commit on its
own (GitopsWriter.release of N manifest edits, as tests/committer/test_release.py drives
it), against N deploy commits of one manifest each. bench/release_scaling.py adds how each
per-service cost grows with N (no Docker).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import git

from bench.by_hand import ByHand
from bench.figures import Figure, alternate, print_figure
from bench.release_scaling import SIZES as SCALING_SIZES
from bench.release_scaling import release_commit_alone, scaling
from bench.repos import Fleet
from bench.stack import FAILURES, Components, RunFailed, Stack
from services.common.events import ZERO_SHA
from services.demo.scenario import Push

SIZE = 200
BUILDERS = (1, 4, 8)
RUN_TIMEOUT_PER_SERVICE = 30.0  # seconds: a generous bound on a shared 2-core machine


class ReleaseFleet(Fleet):
    """`size` services whose Dockerfiles COPY one file (no RUN) onto the base image."""

    def __init__(self, root: Path, size: int) -> None:
        super().__init__(root, size, name="bench/release")
        self.remote = root / "remotes" / "release.git"
        self.clone = root / "release"
        self.releases = 0

    def _write_dockerfile(self, service: str) -> None:
        directory = self.clone / service
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "Dockerfile").write_text(f"FROM {self.base_image}\nCOPY app.txt /app.txt\n")
        (directory / "app.txt").write_text(f"{service} {uuid.uuid4().hex}\n")

    def tag_release(self) -> tuple[str, Push]:
        """Every service changed in one commit, tagged with the next version and pushed."""
        commit = self.change_services(self.services).after
        self.releases += 1
        version = f"v1.{self.releases}.0"
        with git.Repo(self.clone) as repo:
            repo.create_tag(version, ref=commit)
            repo.git.push("origin", f"refs/tags/{version}")
        return version, Push(ZERO_SHA, commit, f"refs/tags/{version}")


@dataclass
class Release:
    stack: Stack
    fleet: ReleaseFleet
    by_hand: ByHand
    milestones: dict[int, dict[str, list[float]]] = field(default_factory=dict)

    @classmethod
    def start(cls, components: Components, size: int) -> Release:
        root = components.workdir / "release-repos"
        fleet = ReleaseFleet(root, size)
        fleet.create(f"{components.registry.host}/release", components.base_image)
        # no sweep: it would build what the script's commits left undeployed, mid-release
        reconciler = {"sweep_seconds": 0}
        concurrency = {"builder": 1, "scanner": 2}
        stack = Stack(components, [fleet], concurrency=concurrency, reconciler=reconciler)
        try:
            stack.start(builders=1)
            return cls(
                stack, fleet, ByHand(components.workdir / "release-by-hand", components, fleet)
            )
        except BaseException:
            stack.stop()
            raise

    def builders(self) -> int:
        return len(self.stack.of("builder"))

    def ship(self) -> float:
        """Seconds from the tag's webhook to the run completed; the other milestones are kept
        in `milestones` by builder count."""
        _, push = self.fleet.tag_release()
        run_id, sent = self.stack.push(self.fleet, push)
        events = follow(self.stack, run_id, len(self.fleet.services))
        kept = self.milestones.setdefault(self.builders(), {})
        for name, kind in (("pushed", "ImagePushed"), ("committed", "ManifestCommitted")):
            kept.setdefault(name, []).append(last(events, kind) - sent)
        return last(events, "RunCompleted") - sent

    def by_hand_once(self, count: int | None = None) -> float:
        """The script over the first `count` services (None: all), changed in one commit."""
        services = self.fleet.services[:count]
        commit = self.fleet.change_services(services).after
        return self.by_hand.run(commit, [self.fleet.spec(s) for s in services])


def follow(stack: Stack, run_id: str, services: int) -> list[dict[str, Any]]:
    """The run's events up to its RunCompleted, read page by page from where the last read
    ended (a 200-service release logs over a thousand)."""
    deadline = time.monotonic() + 60 + RUN_TIMEOUT_PER_SERVICE * services
    events: list[dict[str, Any]] = []
    after = "-"
    while time.monotonic() < deadline:
        page = stack.runtime.event_log.for_run(run_id, after=after)
        for entry_id, event in page:
            after = entry_id
            events.append(event)
            if event["type"] in FAILURES:
                raise RunFailed(f"run {run_id}: {event}; logs in {stack.logs}")
            if event["type"] == "RunCompleted":
                if event.get("status") != "succeeded":
                    raise RunFailed(f"run {run_id} ended {event.get('status')}: {event}")
                return events
        if not page:
            time.sleep(0.2)
    raise RunFailed(f"run {run_id} did not complete; logs in {stack.logs}")


def last(events: list[dict[str, Any]], kind: str) -> float:
    return max(
        datetime.fromisoformat(e["occurred_at"]).timestamp() for e in events if e["type"] == kind
    )


def release(workdir: Path, rounds: int, size: int = SIZE) -> list[Figure]:
    components = Components(workdir / "release")
    try:
        components.start()
        bench = Release.start(components, size)
        try:
            return measure(bench, rounds, size) + alone(workdir / "release", rounds, size)
        finally:
            bench.stack.stop()
    finally:
        components.stop()


def measure(bench: Release, rounds: int, size: int) -> list[Figure]:
    """With 1 builder process, in turns with the script; then with 4 and with 8."""
    ours: dict[int, list[float]] = {}
    bench.by_hand_once(2)  # warm-up: the script's Trivy cache and CLI (a release is all or none)
    ours[1], hand = alternate(rounds, [bench.ship, bench.by_hand_once], warmup=False)
    for builders in BUILDERS[1:]:
        bench.stack.add_builders(builders - bench.builders())
        time.sleep(5)  # the new builders' start-up
        ours[builders] = [bench.ship() for _ in range(rounds)]
    limit = (
        "N builds and pushes on one shared Docker engine, N Trivy scans (2 at a time), one "
        "release commit; the script commits each service on its own"
    )
    figures = []
    for builders in BUILDERS:
        kept = bench.milestones[builders]
        plural = "s" if builders > 1 else ""
        figures += [
            Figure(
                "release",
                f"{size} services, tag → run completed, {builders} builder{plural}",
                "s",
                ours[builders],
                "sequential script",
                hand,
                limit=limit,
            ),
            Figure(
                "release",
                f"  until the last image is pushed, {builders} builder{plural}",
                "s",
                kept["pushed"][-len(ours[builders]) :],
                limit="the rest is the last scans, the release commit and the notifier",
            ),
            Figure(
                "release",
                f"  until the release commit, {builders} builder{plural}",
                "s",
                kept["committed"][-len(ours[builders]) :],
            ),
        ]
    for figure in figures:
        print_figure(figure)
    return figures


def alone(workdir: Path, rounds: int, size: int) -> list[Figure]:
    """The release commit of `size` manifest edits on its own, against `size` deploy commits
    of one manifest each, in turns."""
    one, each = release_commit_alone(workdir / "commit-alone", rounds, size)
    figure = Figure(
        "release",
        f"release commit of {size} manifest edits, on its own",
        "s",
        one,
        f"{size} deploy commits",
        each,
        limit="a git log per service (its last deploy), one commit and push",
    )
    print_figure(figure)
    sizes = tuple(n for n in SCALING_SIZES if n <= size) or (size,)
    return [figure, *scaling(sizes, workdir)]
