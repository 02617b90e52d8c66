"""Chaos with Redis wipes: waves of pushes through real worker processes while builders,
scanners and committers are killed with SIGKILL at random points (test_crash_safety's
helpers), and Redis loses every key (`FLUSHALL`) in the middle of two of the waves.

A wipe takes the records of the runs in flight, so "lost" is judged on the outcome: every
service's newest pushed commit ends up deployed (the gitops manifest names an image built
from it, or from a later commit with the same content, present in the registry) within a
bounded time after the last wave, with nothing pushed: the reconciler's re-drives, retries
and sweep from git bring back what the wipes took. Duplicated:
a tag whose registry index ever held two digests, or two gitops commits deploying one image.
The tallies are printed (`pytest -s`) and are the figures in docs/reliability.md; another seed:
SHIPLINE_CHAOS_SEED.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import git
import pytest

from services.demo.microbank import SERVICES
from tests.deploy_outcomes import REGISTRY_NAMESPACE, manifest_of, pushes_of, runs_of_trigger
from tests.e2e.test_crash_safety import (
    FINAL,
    SEED,
    VISIBILITY_TIMEOUT,
    Chaos,
    chaos_on,
)
from tests.workers import wait_until

WAVES = 3  # x 5 services = 15 runs
WIPED_WAVES = (2, 3)  # the last one: what it loses must converge after the waves
SETTLE_WIPED_WAVE_SECONDS = 20
CONVERGE_BY_RECONCILER_SECONDS = 90  # a sweep sees a service twice (5 s apart), then builds


@dataclass
class Figures:
    wipes: int = 0
    converged_by: str = ""
    settled: list[str] = field(default_factory=list)  # how each wave ended


@pytest.fixture
def chaos(
    tmp_path, redis_url, redis_client, docker_host, registry, base_image, trivy_path
) -> Iterator[Chaos]:
    """test_crash_safety's stage workers, with a reconciler that passes every few seconds."""
    reconciler = {"period_seconds": 3, "retry_first_seconds": 5, "retry_max_seconds": 10}
    with chaos_on(
        tmp_path, redis_url, docker_host, registry, base_image, trivy_path, reconciler=reconciler
    ) as chaos:
        yield chaos


def test_chaos_runs_with_workers_killed_and_redis_wiped_lose_no_deploy_and_repeat_nothing(
    chaos: Chaos, redis_client
) -> None:
    figures = Figures()
    started = time.monotonic()
    for wave in range(1, WAVES + 1):
        runs = wave_runs(chaos, wave)
        if wave in WIPED_WAVES:
            time.sleep(random.Random(f"{SEED}-wipe-{wave}").uniform(0, 4))
            redis_client.flushall()
            figures.wipes += 1
            figures.settled.append(settle_wiped_wave(chaos, runs))
        else:
            wait_until(partial(finished, chaos, runs), 180, f"every run of wave {wave} to finish")
            figures.settled.append("all finished")
        chaos.tally.waves.append(f"{time.monotonic() - started:.0f}s")
    figures.converged_by = converge(chaos)
    time.sleep(VISIBILITY_TIMEOUT + 2)  # let any late redelivery show itself

    lost = lost_deploys(chaos)
    duplicate_tags = duplicated_tags(chaos)
    duplicate_commits = duplicated_deploy_commits(chaos)
    print(
        f"\nchaos with wipes (seed {SEED}): {chaos.tally.line()}; wipes {figures.wipes}; "
        f"waves: {'; '.join(figures.settled)}; converged {figures.converged_by} "
        f"(sweep runs {len(runs_of_trigger(chaos.runtime, 'converge'))}); "
        f"lost {len(lost)}; duplicated: tags {len(duplicate_tags)}, deploy commits "
        f"{len(duplicate_commits)}; {time.monotonic() - started:.0f}s"
    )
    assert figures.wipes == len(WIPED_WAVES)
    assert sum(chaos.tally.kills.values()) == 3 * WAVES
    assert lost == {}
    assert duplicate_tags == {}
    assert duplicate_commits == {}


def wave_runs(chaos: Chaos, wave: int) -> list[str]:
    """Run test_crash_safety's wave (a push per service, three kills); its run ids."""
    chaos.wave(wave)
    return list(chaos.runs)[-len(SERVICES) :]


def finished(chaos: Chaos, runs: list[str]) -> bool:
    return all(
        (run := chaos.runtime.runs.get(run_id)) is not None and run.status in FINAL
        for run_id in runs
    )


def settle_wiped_wave(chaos: Chaos, runs: list[str]) -> str:
    """Give a wiped wave's deploys a bounded time; one the wipe lost is for the next wave to
    supersede or for convergence to bring back, so it is counted here, not failed."""
    commits = dict(chaos.runs[run_id] for run_id in runs)
    deadline = time.monotonic() + SETTLE_WIPED_WAVE_SECONDS
    while time.monotonic() < deadline and behind(chaos, commits):
        time.sleep(0.5)
    missing = behind(chaos, commits)
    return f"{len(SERVICES) - len(missing)}/{len(SERVICES)} deployed after the wipe"


def converge(chaos: Chaos) -> str:
    """Wait, with nothing pushed, for every service to run its newest commit; how long it
    took after the last wave."""
    started = time.monotonic()
    while time.monotonic() < started + CONVERGE_BY_RECONCILER_SECONDS:
        if not behind(chaos, newest_commits(chaos)):
            return f"{time.monotonic() - started:.0f}s after the last wave, nothing pushed"
        time.sleep(0.5)
    return "nothing: still behind"


# --- what counts as lost or duplicated ---------------------------------------------------


def newest_commits(chaos: Chaos) -> dict[str, str]:
    """Each service's newest pushed commit (pushes are in order)."""
    return dict(chaos.runs.values())


def deployed_commit(chaos: Chaos, service: str) -> str | None:
    """The commit of the image the gitops manifest runs for `service`, if it is ours."""
    manifest = manifest_of(chaos.sample, service)
    image = re.escape(f"{chaos.registry.host}/{REGISTRY_NAMESPACE}/{service}:sha-")
    found = re.search(rf"image: {image}([0-9a-f]{{7}})\b", manifest)
    return found.group(1) if found else None


def behind(chaos: Chaos, commits: dict[str, str]) -> dict[str, str]:
    """Services not running an image built from their commit or a later one, in the
    registry: what they run instead."""
    result = {}
    with git.Repo(chaos.sample.remote) as repo:
        for service, commit in commits.items():
            short = deployed_commit(chaos, service)
            if short is None:
                result[service] = "no image of this repository"
            elif not repo.is_ancestor(commit, repo.commit(short).hexsha):
                result[service] = f"sha-{short}, older than {commit[:7]}"
            elif pushes_of(chaos.registry, service, f"sha-{short}") == 0:
                result[service] = f"sha-{short}, not in the registry"
    return result


def lost_deploys(chaos: Chaos) -> dict[str, str]:
    return behind(chaos, newest_commits(chaos))


def duplicated_tags(chaos: Chaos) -> dict[str, int]:
    """Tags of the pushed commits whose registry index holds more than one digest."""
    tags = {(service, f"sha-{commit[:7]}") for service, commit in chaos.runs.values()}
    tags |= {(s, f"sha-{c}") for s in SERVICES if (c := deployed_commit(chaos, s))}
    counts = {f"{s}:{tag}": pushes_of(chaos.registry, s, tag) for s, tag in tags}
    return {tag: n for tag, n in counts.items() if n > 1}


def duplicated_deploy_commits(chaos: Chaos) -> dict[str, int]:
    """Images deployed by more than one gitops commit on main."""
    with git.Repo(chaos.sample.remote) as repo:
        subjects = Counter(
            c.summary for c in repo.iter_commits("main") if "deploy" in str(c.summary)
        )
    return {str(subject): n for subject, n in subjects.items() if n > 1}
