"""Chaos: 20 runs through real worker processes while builders, scanners and committers are
killed with SIGKILL at random points and restarted. Nothing may be lost or done twice.

Each wave pushes one commit per service (five runs, through the signed webhook); then, at
once, the builder is killed at a random moment of the wave's builds, the scanner of its
scans, and the committer while its `git push` is held inside the gitops remote's
pre-receive hook (committed, not pushed) or post-receive hook (pushed, not yet recorded).
The tallies are printed (`pytest -s`) and are the figures in docs/reliability.md; another seed:
SHIPLINE_CHAOS_SEED.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import pytest
from fastapi.testclient import TestClient

from services.common.runtime import Runtime
from services.demo.microbank import SERVICES
from services.demo.receiver import NotificationReceiver
from services.demo.scenario import Push, SampleMonorepo
from services.devenv.registry import Registry
from services.gateway.app import create_app
from services.gateway.github import sign
from tests.workers import Workers, stages_on_sample, wait_until

SEED = int(os.environ.get("SHIPLINE_CHAOS_SEED", "20261128"))
WAVES = 4  # x 5 services = 20 runs
VISIBILITY_TIMEOUT = 5
SECRET = "chaos-webhook-secret-0123456789"
FINAL = ("succeeded", "failed", "blocked", "skipped", "superseded", "held")

# The gitops remote's hooks hold exactly one push when armed: the rename is atomic, so only
# the first push to find the file sleeps (until the committer that made it is killed).
HOOK = """#!/bin/sh
cat >/dev/null
if mv "{armed}" "{fired}" 2>/dev/null; then
  sleep 120
fi
exit 0
"""


@dataclass
class Tally:
    runs: int = 0
    waves: list[str] = field(default_factory=list)  # when each wave had finished
    kills: Counter[str] = field(default_factory=Counter)
    kills_mid_task: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        kills = ", ".join(
            f"{stage} {self.kills[stage]} ({self.kills_mid_task[stage]} mid-task)"
            for stage in sorted(self.kills)
        )
        return f"runs {self.runs}; kills: {kills}; waves done at {', '.join(self.waves)}"


class GitopsHooks:
    """pre-receive / post-receive hooks in the bare remote that hold one push when armed."""

    def __init__(self, remote: Path) -> None:
        self._dir = remote / "hooks"
        for name in ("pre-receive", "post-receive"):
            hook = self._dir / name
            hook.write_text(
                HOOK.format(armed=self._dir / f"{name}.armed", fired=self._dir / f"{name}.fired")
            )
            hook.chmod(0o755)

    def arm(self, name: str) -> None:
        (self._dir / f"{name}.fired").unlink(missing_ok=True)
        (self._dir / f"{name}.armed").touch()

    def fired(self, name: str) -> bool:
        return (self._dir / f"{name}.fired").exists()

    def disarm(self, name: str) -> None:
        (self._dir / f"{name}.armed").unlink(missing_ok=True)


@dataclass
class Chaos:
    sample: SampleMonorepo
    workers: Workers
    runtime: Runtime
    gateway: TestClient
    receiver: NotificationReceiver
    registry: Registry
    hooks: GitopsHooks
    tally: Tally = field(default_factory=Tally)
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # run → service, commit

    def push(self, service: str, wave: int) -> str:
        """A commit that changes the service's Dockerfile (a slow new step), and its webhook."""
        path = f"{SERVICES[service]}Dockerfile"
        text = (self.sample.clone / path).read_text()
        slow = f"RUN echo chaos-{wave} && sleep 2\n"
        text = text.replace("WORKDIR /app\n", f"WORKDIR /app\n{slow}", 1)
        push = self.sample.change(path, text, f"build({service}): chaos wave {wave}")
        run_id = self._webhook(push)
        self.runs[run_id] = (service, push.after)
        self.tally.runs += 1
        return run_id

    def _webhook(self, push: Push) -> str:
        body = self.sample.github_payload(push)
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": f"chaos-{push.after}",
            "X-Hub-Signature-256": sign(SECRET, body),
        }
        response = self.gateway.post("/webhooks/github", content=body, headers=headers)
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])

    def _services(self, runs: list[str]) -> Iterator[dict[str, Any]]:
        for run_id in runs:
            run = recorded.model_dump() if (recorded := self.runtime.runs.get(run_id)) else {}
            yield from run.get("services", {}).values()

    def in_stage(self, stage: str, runs: list[str]) -> bool:
        """Some service of these runs is inside `stage` right now (started, not finished)."""
        return any(
            "started" in (marks := svc["timings"].get(stage, {})) and "finished" not in marks
            for svc in self._services(runs)
        )

    def past(self, stage: str, runs: list[str]) -> bool:
        """Every one of these runs has its service through `stage` (or the run is over)."""
        services = list(self._services(runs))
        return len(services) == len(runs) and all(
            "finished" in svc["timings"].get(stage, {}) or svc["status"] in FINAL
            for svc in services
        )

    def kill_during(self, stage: str, window: float, runs: list[str], rng: random.Random) -> None:
        """Kill the stage's worker at a random moment once the runs' work reaches it (or, when
        the stage got through it all unseen, at once: a kill of an idle worker)."""
        wait_until(
            lambda: self.in_stage(stage, runs) or self.past(stage, runs), 90, f"{stage} work"
        )
        time.sleep(rng.uniform(0, window))
        mid_task = self.in_stage(stage, runs)
        self.workers.kill(stage)
        self._count(stage, mid_task)
        self.workers.start(stage)

    def kill_committer_in_hook(self, hook: str) -> None:
        self.hooks.arm(hook)
        wait_until(lambda: self.hooks.fired(hook), 90, f"a push held in {hook}")
        self.workers.kill("committer")
        self._count(f"committer ({hook})", True)
        self.workers.start("committer")

    def _count(self, what: str, mid_task: bool) -> None:
        with self.lock:
            self.tally.kills[what] += 1
            self.tally.kills_mid_task[what] += int(mid_task)

    def wave(self, number: int) -> None:
        """Push one commit per service, then kill the builder, the scanner and the committer
        concurrently, each at a random point of its own stage's work."""
        runs = [self.push(service, number) for service in SERVICES]
        rng = random.Random(f"{SEED}-{number}")
        hook = rng.choice(("pre-receive", "post-receive"))
        with ThreadPoolExecutor(max_workers=3) as pool:
            kills = [
                pool.submit(self.kill_during, "builder", 2.0, runs, random.Random(rng.random())),
                pool.submit(self.kill_during, "scanner", 0.3, runs, random.Random(rng.random())),
                pool.submit(self.kill_committer_in_hook, hook),
            ]
            for kill in kills:
                kill.result()

    def finished(self) -> bool:
        return all(
            (run := self.runtime.runs.get(run_id)) is not None
            and run.status in FINAL
            and run.notified_at
            for run_id in self.runs
        )


@contextlib.contextmanager
def chaos_on(
    root: Path,
    redis_url: str,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
    **settings: Any,
) -> Iterator[Chaos]:
    """A worker per stage on a fresh sample under `root` (a killed worker's task back in
    seconds), the gateway in-process, and `settings` (the reconciler's, say)."""
    with (
        stages_on_sample(
            root, redis_url, docker_host, registry, base_image, trivy_path,
            visibility_timeout=VISIBILITY_TIMEOUT, webhook_secret=SECRET,
            concurrency={"builder": 3, "scanner": 2}, **settings,
        ) as stages,
        TestClient(create_app(stages.runtime.settings, stages.runtime)) as gateway,
    ):  # fmt: skip
        sample = stages.sample
        yield Chaos(
            sample, stages.workers, stages.runtime, gateway, stages.receiver, stages.registry,
            GitopsHooks(sample.remote),
        )  # fmt: skip


@pytest.fixture
def chaos(
    tmp_path, redis_url, redis_client, docker_host, registry, base_image, trivy_path
) -> Iterator[Chaos]:
    with chaos_on(tmp_path, redis_url, docker_host, registry, base_image, trivy_path) as chaos:
        yield chaos


def test_twenty_runs_with_workers_killed_at_random_points_lose_nothing_and_repeat_nothing(
    chaos: Chaos,
) -> None:
    started = time.monotonic()
    for wave in range(1, WAVES + 1):
        chaos.wave(wave)
        wait_until(chaos.finished, 180, f"every run of wave {wave} to finish")
        chaos.tally.waves.append(f"{time.monotonic() - started:.0f}s")
    time.sleep(VISIBILITY_TIMEOUT + 2)  # let any late redelivery show itself

    lost = lost_runs(chaos)
    duplicate_images = duplicated_images(chaos)
    duplicate_commits = duplicated_commits(chaos)
    duplicate_notes = duplicated_notifications(chaos)
    print(
        f"\nchaos (seed {SEED}): {chaos.tally.line()}; lost {len(lost)}; duplicated: "
        f"images {len(duplicate_images)}, manifest commits {len(duplicate_commits)}, "
        f"notifications {len(duplicate_notes)}; {time.monotonic() - started:.0f}s"
    )
    assert chaos.tally.runs == WAVES * len(SERVICES)
    assert lost == {}
    assert duplicate_images == {}
    assert duplicate_commits == {}
    assert duplicate_notes == {}


# --- what counts as lost or duplicated ---------------------------------------------------


def lost_runs(chaos: Chaos) -> dict[str, Any]:
    """Runs that did not deploy: not succeeded, or no single commit of their image."""
    lost = {}
    for run_id, (service, commit) in chaos.runs.items():
        run = recorded.model_dump() if (recorded := chaos.runtime.runs.get(run_id)) else {}
        outcome = run.get("services", {}).get(service, {})
        if run.get("status") != "succeeded" or outcome.get("status") != "succeeded":
            lost[run_id] = {"status": run.get("status"), service: outcome.get("reason")}
        elif f"sha-{commit[:7]}" not in outcome.get("image", ""):
            lost[run_id] = {"image": outcome.get("image")}
    return lost


def duplicated_images(chaos: Chaos) -> dict[str, str]:
    """Commit tags pushed more than once: the registry's access log records every manifest
    PUT, and its tag index every manifest the tag ever pointed at."""
    root = chaos.registry.workdir / "data" / "docker" / "registry" / "v2" / "repositories"
    access_log = chaos.registry.log_path.read_text(errors="replace")
    duplicated = {}
    for service, commit in chaos.runs.values():
        tag = f"sha-{commit[:7]}"
        index = root / "microbank" / service / "_manifests" / "tags" / tag / "index" / "sha256"
        manifests = len(list(index.iterdir()))
        puts = access_log.count(f'"PUT /v2/microbank/{service}/manifests/{tag} HTTP')
        if (manifests, puts) != (1, 1):
            duplicated[f"{service}:{tag}"] = f"{manifests} manifests, {puts} PUTs"
    return duplicated


def duplicated_commits(chaos: Chaos) -> dict[str, int]:
    """Deploy commits of one image that appear more than once on the gitops branch."""
    with git.Repo(chaos.sample.remote) as repo:
        subjects = Counter(
            str(c.message).splitlines()[0]
            for c in repo.iter_commits("main")
            if "deploy" in c.summary
        )
    wanted = {
        f"chore({service}): deploy {chaos.registry.host}/microbank/{service}:sha-{commit[:7]}"
        f" [skip ci]"
        for service, commit in chaos.runs.values()
    }
    missing = wanted - set(subjects)
    assert not missing, f"deploy commits missing: {missing}"
    return {subject: n for subject, n in subjects.items() if n > 1}


def duplicated_notifications(chaos: Chaos) -> dict[str, int]:
    """Runs whose summary reached the webhook receiver more than once (or never)."""
    per_run = Counter(body.get("run_id") for body in chaos.receiver.received)
    return {run_id: per_run[run_id] for run_id in chaos.runs if per_run[run_id] != 1}
