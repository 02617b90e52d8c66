"""Lead time, fan-out and the no-op pipeline: Shipline end to end against the by-hand script.

One Shipline (gateway and one worker process per stage; builders added for the fan-out)
serves two monorepos: the microbank sample (lead time, no-op) and a fleet of 8 services
whose Dockerfiles `RUN sleep 2` (fan-out). The script gets its own gitops copy of each.
"""

from __future__ import annotations

import os
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from bench.by_hand import ByHand
from bench.figures import Figure, Target, alternate, print_figure
from bench.memory import MemoryProbe
from bench.repos import Fleet, microbank_spec
from bench.stack import Components, RunFailed, Stack
from services.demo.scenario import Push, SampleMonorepo

FAN_OUT = (1, 2, 4, 8)
MANY_BUILDERS = 4
LEAD_TIME_TARGET = Target(1.15)
FAN_OUT_TARGET = Target(0.35)


@dataclass
class Pipeline:
    stack: Stack
    sample: SampleMonorepo
    fleet: Fleet
    sample_by_hand: ByHand
    fleet_by_hand: ByHand
    images_pushed: dict[tuple[int, int], list[float]] = field(default_factory=dict)

    @classmethod
    def start(cls, components: Components) -> Pipeline:
        root = components.workdir / "repos"
        registry, base = components.registry.host, components.base_image
        sample = SampleMonorepo(root)
        sample.create(f"{registry}/microbank", base)
        fleet = Fleet(root, max(FAN_OUT))
        fleet.create(f"{registry}/fleet", base)
        # no sweep: it would build what the by-hand script's commits left undeployed, mid-round
        stack = Stack(
            components,
            [sample, fleet],
            concurrency={"builder": 1, "scanner": 2},
            reconciler={"sweep_seconds": 0},
            # the no-op benchmark replays a push already shipped: inside the replay window the
            # gateway would answer it alone, and no stage would run
            limits={"replay_window_seconds": 0},
        )
        hand = components.workdir / "by-hand"
        try:
            stack.start(builders=1)
            return cls(
                stack,
                sample,
                fleet,
                ByHand(hand / "microbank", components, sample),
                ByHand(hand / "fleet", components, fleet),
            )
        except BaseException:
            stack.stop()
            raise

    def workers(self) -> dict[str, int]:
        """The first process of each role, by name (what the memory table shows)."""
        names = ("gateway", "detector", "builder", "scanner", "committer", "notifier")
        return {name: self.stack.of(name)[0].popen.pid for name in names}

    def change_sample(self) -> Push:
        return self.sample.append("user_service/app.txt", f"change {uuid.uuid4()}", "bench")

    def ship_sample(self) -> float:
        push = self.change_sample()
        took = self.stack.lead_time(self.sample, push, 1)
        self.echo_deploy_push(push)
        return took

    def echo_deploy_push(self, shipped: Push) -> None:
        """The webhook a git host sends for the committer's own push (the deploy commit on the
        sample, whose manifests live beside its code), handled before the next push, untimed.

        Without it the detector never sees the pipeline's commits, so the next push's `before`
        is a commit it never recorded checked: every round would check the whole shipline.yaml
        against the tree (services/detector/fit.py), which a host's webhooks spare it."""
        head = self.sample.remote_head().hexsha
        if head == shipped.after:
            return
        run_id, _ = self.stack.push(self.sample, Push(shipped.after, head))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = [event for _, event in self.stack.runtime.event_log.for_run(run_id)]
            if any(event["type"] == "RunCompleted" for event in events):
                return
            time.sleep(0.02)
        raise RunFailed(f"the deploy commit's push (run {run_id}) did not end")

    def sample_by_hand_once(self) -> float:
        return self.sample_by_hand.run(self.change_sample().after, [microbank_spec()])

    def ship_fleet(self, count: int) -> float:
        """Seconds to the last commit; when the last image was pushed goes to `images_pushed`."""
        push = self.fleet.change_services(self.fleet.services[:count])
        took = self.stack.milestones(self.fleet, push, count)
        builders = len(self.stack.of("builder"))
        self.images_pushed.setdefault((builders, count), []).append(took["ImagePushed"])
        return took["ManifestCommitted"]

    def fleet_by_hand_once(self, count: int) -> float:
        services = self.fleet.services[:count]
        push = self.fleet.change_services(services)
        return self.fleet_by_hand.run(push.after, [self.fleet.spec(s) for s in services])


def lead_time(pipeline: Pipeline, rounds: int) -> list[Figure]:
    ours, hand = alternate(rounds, [pipeline.ship_sample, pipeline.sample_by_hand_once])
    figure = Figure(
        "lead time",
        "1 service, small image",
        "s",
        ours,
        "by-hand script",
        hand,
        LEAD_TIME_TARGET,
        "the SBOM, the git host's report and the detector's survey now come after their "
        "stage's event is out (services/common/after_publish.py). Over the script's same "
        "steps, medians of 16 rounds: the detector +26 ms (ref, range, shipline.yaml checks, "
        "the deployed state), the builder +27 ms (lease, registry lookup, context), the "
        "scanner +20 ms, the committer +45 ms (admission, decision, a four-git-process sync, "
        "the checked edit); the gateway and the queue hops (2-3 ms each) ~10 ms",
    )
    print_figure(figure)
    return [figure]


def fan_out(pipeline: Pipeline, rounds: int, probe: MemoryProbe | None = None) -> list[Figure]:
    """1, 2, 4, 8 services in one push with 1 builder process, then with 4; the script
    handles the same services one after another."""
    pipeline.ship_fleet(1)  # warm-up: the fleet's images and the script's Trivy cache
    pipeline.fleet_by_hand_once(1)
    sides = [partial(pipeline.ship_fleet, n) for n in FAN_OUT]
    sides += [partial(pipeline.fleet_by_hand_once, n) for n in FAN_OUT]
    results = alternate(rounds, sides, warmup=False)
    one, hand = (
        dict(zip(FAN_OUT, results, strict=False)),
        dict(zip(FAN_OUT, results[4:], strict=False)),
    )
    pipeline.stack.add_builders(MANY_BUILDERS - 1)
    time.sleep(5)  # the new builders' start-up
    pipeline.ship_fleet(MANY_BUILDERS)  # warm-up with every builder consuming
    sampling = probe.loaded(pipeline.workers()) if probe else nullcontext()
    with sampling:
        sides = [partial(pipeline.ship_fleet, n) for n in FAN_OUT]
        sides.append(partial(pipeline.fleet_by_hand_once, max(FAN_OUT)))
        results = alternate(rounds, sides, warmup=False)
    many = dict(zip(FAN_OUT, results, strict=False))
    hand[max(FAN_OUT)] = hand[max(FAN_OUT)] + results[-1]
    figures = []
    limit = (
        "the builds share one Docker engine on {cpus} CPUs; scans (2 at a time) and "
        "commits (one writer per gitops branch) follow the builds"
    )
    for builders, times in ((1, one), (MANY_BUILDERS, many)):
        for count in FAN_OUT:
            target = FAN_OUT_TARGET if builders > 1 and count == max(FAN_OUT) else None
            figure = Figure(
                "fan-out",
                f"{count} service{'s' if count > 1 else ''}, "
                f"{builders} builder{'s' if builders > 1 else ''}",
                "s",
                times[count],
                "sequential script",
                hand[count],
                target,
                limit.format(cpus=_cpus()),
            )
            figures.append(figure)
        figures.append(
            Figure(
                "fan-out",
                f"  of which until the last image is pushed ({max(FAN_OUT)} services)",
                "s",
                pipeline.images_pushed[(builders, max(FAN_OUT))][-rounds:],
                limit="the rest is the last scans and commits",
            )
        )
    for figure in figures:
        print_figure(figure)
    return figures


def no_op(pipeline: Pipeline, rounds: int) -> list[Figure]:
    """A replayed webhook (a new delivery id, past the replay window) of a push already
    shipped: the detector compares each changed service with what its manifest runs, finds
    the same content, and ends the run `skipped` with nothing built, scanned or committed.
    What remains is Shipline's own cost for a push with nothing to do."""
    push = pipeline.change_sample()
    pipeline.stack.lead_time(pipeline.sample, push, 1)
    totals: list[float] = []
    gateway: list[float] = []
    detector: list[float] = []
    for index in range(rounds + 1):
        run_id, sent = pipeline.stack.push(pipeline.sample, push)
        events = pipeline.stack.completed(run_id)
        when = {e["type"]: _timestamp(e["occurred_at"]) for e in events}
        if "ChangeDetected" in when:
            raise RunFailed(f"run {run_id}: the replayed push asked for a build again")
        if index == 0:
            continue  # warm-up
        totals.append((when["RunCompleted"] - sent) * 1000)
        gateway.append((when["PushReceived"] - sent) * 1000)
        detector.append((when["RunCompleted"] - when["PushReceived"]) * 1000)
    figures = [
        Figure("no-op pipeline", "webhook → run skipped", "ms", totals, limit="the two below"),
        Figure(
            "no-op pipeline",
            "  gateway",
            "ms",
            gateway,
            limit="verify, dedupe, create the run, publish",
        ),
        Figure(
            "no-op pipeline",
            "  detector",
            "ms",
            detector,
            limit="a queue hop, the mirror's git fetch and diff, the deployed trailers' read",
        ),
    ]
    for figure in figures:
        print_figure(figure)
    return figures


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _cpus() -> int:
    return os.cpu_count() or 1
