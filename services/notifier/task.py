"""Notifier stage: commits, blocks, failures and run summaries → every configured channel;
the end of a rollout in an environment → its `approval: auto` promotions (auto_promote.py);
a release run's summary → its Release on the repository's git host (host_release.py).
Each notification is routed and named by the environment it is in (event_environment.py).

Delivery rules (once per run, channel and outcome; failing channels retried alone) live in
:mod:`services.notifier.delivery`. A run summary is rebuilt from the run store before it is
sent (:mod:`services.notifier.recorded`): its status, commit and outcomes are the ones the
stages recorded, whatever the event says.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.auto_promotion_runs import AutoPromotionRuns
from services.common.environment_view import EnvironmentsStore
from services.common.errors import PermanentError
from services.common.events import (
    BuildSuperseded,
    DeploymentFailed,
    DeploymentSkipped,
    DeploymentVerified,
    Envelope,
    ManifestCommitted,
    PullRequestOpened,
    RunCompleted,
    ScanFailed,
    StageFailed,
)
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition
from services.notifier.auto_promote import AutoPromoter
from services.notifier.channels import channels_from
from services.notifier.delivery import RedisMarkers, deliver
from services.notifier.event_environment import EventEnvironments
from services.notifier.host_release import HostReleases
from services.notifier.recorded import recorded_summary


def make_handler(runtime: Runtime) -> Handler:
    channels = channels_from(runtime.settings)
    markers = RedisMarkers(runtime.redis)
    keys = runtime.keyspace
    views = EnvironmentsStore(runtime.redis, keys=keys)
    promote = AutoPromoter(
        runtime.settings, views, AutoPromotionRuns(runtime.redis, keys, runtime.runs, runtime.bus)
    )
    environment_of = EventEnvironments(runtime.settings, views, runtime.runs)
    publish_release = HostReleases(runtime.settings, runtime.runs)

    def handle(event: Envelope) -> Sequence[Envelope]:
        promote(event)  # approval: auto (first: a channel's refusal below must not stop it)
        run = None
        if isinstance(event, RunCompleted):
            run = runtime.runs.get(event.run_id)
            event = recorded_summary(event, run)
        environment = environment_of(event, run)
        # TransientError: retried
        refused = deliver(event, channels, markers, runtime.keyspace, environment)
        if isinstance(event, RunCompleted):
            runtime.runs.mark_notified(event.run_id)  # nothing more will be sent for it
            host_refusal = publish_release(event)  # after the channels: it delays none of them
            if host_refusal:
                refused.append(host_refusal)
        if refused:
            raise PermanentError("; ".join(refused))
        return ()

    return handle


STAGE = StageDefinition(
    name="notifier",
    consumes=(
        ManifestCommitted,
        ScanFailed,
        StageFailed,
        RunCompleted,
        BuildSuperseded,
        DeploymentSkipped,
        DeploymentVerified,
        DeploymentFailed,
        PullRequestOpened,
    ),
    factory=make_handler,
    tracks_service=False,
    reports_failures=False,
)
