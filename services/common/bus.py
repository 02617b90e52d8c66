"""The bus: Celery on Redis, one queue per stage, one routing table, one publish().

publish() projects the event onto the run store, appends it once to the event log and
queues it for the stage that consumes it. Stages never call each other; they publish.
"""

from __future__ import annotations

import kombu.exceptions
import redis
from celery import Celery
from kombu import Exchange, Queue

from services.common.errors import TransientError
from services.common.eventlog import EventLog
from services.common.events import Envelope, encode_event
from services.common.logging import get_logger
from services.common.publish_script import Writes
from services.common.redis_connect import celery_broker
from services.common.runs import RunStore
from services.common.settings import STAGES
from services.common.task_message import task_message

ROUTES: dict[str, str] = {
    "PushReceived": "detector",
    "BuildRequested": "detector",
    "ReleaseRequested": "detector",
    "DeployRequested": "detector",
    "ChangeDetected": "builder",
    "ImagePushed": "scanner",
    "BuildSuperseded": "notifier",
    "ScanPassed": "committer",
    "ScanFailed": "notifier",
    "ManifestCommitted": "notifier",
    "StageFailed": "notifier",
    "RunCompleted": "notifier",
    "RollbackRequested": "committer",
    "ReleaseReady": "committer",
    "DeploymentSkipped": "notifier",
    "DeploymentVerified": "notifier",
    "DeploymentFailed": "notifier",
    "UnpinRequested": "committer",
    "Unpinned": "notifier",
    "PromotionRequested": "committer",
    "PullRequestOpened": "notifier",
    "PullRequestClosed": "committer",
}


def stages_for(event: Envelope) -> tuple[str, ...]:
    """The stages that consume this event: ROUTES, except that a commit to a cluster goes to
    the verifier (which reports to the notifier), and a failed rollout of a service with
    automatic rollback goes to the committer too."""
    if event.type == "ManifestCommitted" and getattr(event, "cluster", None):
        return ("verifier",)
    if event.type == "DeploymentFailed" and getattr(event, "auto_rollback", False):
        return ("notifier", "committer")
    return (ROUTES[event.type],)


class BusUnavailable(TransientError):
    """Redis cannot be reached; nothing was queued."""


BROKER_ERRORS: tuple[type[Exception], ...] = (
    BusUnavailable,
    redis.RedisError,
    kombu.exceptions.OperationalError,
)


UNACKED_MUTEX_SECONDS = 10


def queue_name(stage: str) -> str:
    return f"shipline.{stage}"


def task_name(stage: str) -> str:
    return f"shipline.{stage}.handle"


def task_id(event: Envelope, index: int, stage: str) -> str:
    """The task id of `event`'s delivery to its index-th consuming stage."""
    return str(event.event_id) if index == 0 else f"{event.event_id}:{stage}"


def task_argsrepr(event: Envelope) -> str:
    """How the task's argument shows in Celery's tools (the default repr of the whole
    event costs more than the rest of the publish)."""
    return f"({event.type} of run {event.run_id})"


def task_messages(celery: Celery, event: Envelope, body: str) -> list[tuple[str, str]]:
    """(queue, task message) for each stage consuming `event` (encoded as `body`), as
    publish() would send them."""
    return [
        (
            queue_name(stage),
            task_message(
                celery,
                task_name(stage),
                [body],
                task_id(event, index, stage),
                queue_name(stage),
                task_argsrepr(event),
            ),
        )
        for index, stage in enumerate(stages_for(event))
    ]


def broker_transport(broker_url: str) -> str | None:
    """kombu's Redis transport with one round trip per message (bus_transport.py) for
    kombu's `redis://`, `rediss://` and `sentinel://` URLs; kombu's own for a socket
    (`redis+socket://`, whose `+` names kombu's transport in the URL itself)."""
    scheme = broker_url.partition("://")[0]
    if scheme in ("redis", "rediss"):
        return "services.common.bus_transport:Transport"
    if scheme == "sentinel":
        return "services.common.bus_transport:SentinelTransport"
    return None


def create_celery(redis_url: str, visibility_timeout: int) -> Celery:
    """Celery on the Redis `redis_url` names (any form services/common/redis_connect.py
    takes: a socket, TLS, Sentinel)."""
    broker = celery_broker(redis_url)
    app = Celery("shipline", broker=broker.url, set_as_current=False)
    app.conf.update(
        broker_transport=broker_transport(broker.url),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        broker_use_ssl=broker.use_ssl,
        broker_transport_options={
            **broker.transport_options,  # Sentinel's master_name and sentinel_kwargs
            "visibility_timeout": visibility_timeout,
            # Sweep for messages of dead workers often enough to honour the timeout
            # (kombu's default sweeps every 10 s x 10 calls).
            "unacked_restore_interval": max(1, min(10, visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
            # Every worker sweeps under one Redis mutex; a worker killed mid-sweep leaves it
            # held until it expires, and no message of a dead worker is restored meanwhile
            # (kombu's default: 5 minutes). A sweep takes milliseconds.
            "unacked_mutex_expire": UNACKED_MUTEX_SECONDS,
        },
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_queues=[
            Queue(queue_name(s), Exchange(queue_name(s)), routing_key=queue_name(s)) for s in STAGES
        ],
        task_default_queue=queue_name("notifier"),
    )
    return app


class Bus:
    def __init__(self, celery: Celery, runs: RunStore, log: EventLog) -> None:
        self._celery = celery
        self._runs = runs
        self._log = log

    def publish(self, event: Envelope) -> None:
        """Project, log and queue `event` in one round trip: one Redis script runs the run
        store's, the event log's and the queues' writes together (publish_script.py), and
        no other client's command runs in between. Only an event that completes its run (or
        readies its release) reads the run back, to summarise it.

        Each message is the one kombu's Redis transport would push for `send_task`
        (task_message.py: built by Celery, checked against kombu) and goes straight to its
        stage's queue by name; publishing declares nothing: kombu's Redis transport routes
        a named exchange through its `_kombu.binding.*` sets, which only a declaration
        writes and which go when Redis loses its data (FLUSHALL, a restart without
        persistence, a failover to an empty replica), and a message routed through them then
        goes nowhere, silently. A message named this way is also restored (kombu) by its
        queue's name.
        """
        stages = stages_for(event)
        body = encode_event(event)
        writes = Writes()
        writes.first_publish = self._log.append_to(writes, event, body)
        projected = self._runs.project(event, writes)
        for queue, message in task_messages(self._celery, event, body):
            writes.call("LPUSH", queue, message)
        try:
            completed = self._runs.outcome(projected, self._runs.commit(writes))
        except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
            raise BusUnavailable(f"cannot reach Redis: {type(exc).__name__}") from None
        get_logger().info(
            "event published",
            event_type=event.type,
            event_id=str(event.event_id),
            to=",".join(stages),
        )
        if completed is not None:
            self.publish(completed)
