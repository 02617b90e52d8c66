"""The Celery adapter: one thin task per stage, and starting a worker for one stage."""

from __future__ import annotations

import importlib
import os

from celery import Celery, Task

from services.common.bus import queue_name, task_name
from services.common.runtime import Runtime
from services.common.stage import RetryLater, StageDefinition, StageRunner


def load_definition(stage: str) -> StageDefinition:
    module = importlib.import_module(f"services.{stage}.task")
    definition: StageDefinition = module.STAGE
    return definition


def register_stage(celery: Celery, runtime: Runtime, definition: StageDefinition) -> None:
    runner = StageRunner(definition, runtime)

    @celery.task(name=task_name(definition.name), bind=True, max_retries=None)
    def handle(task: Task, payload: str) -> None:
        try:
            runner.process(payload, attempt=task.request.retries + 1)
        except RetryLater as later:
            raise task.retry(countdown=later.countdown) from None


def run_worker(runtime: Runtime, stage: str, concurrency: int | None = None) -> None:
    definition = load_definition(stage)
    celery = runtime.celery
    register_stage(celery, runtime, definition)
    celery.worker_main(
        [
            "worker",
            f"--queues={queue_name(stage)}",
            f"--concurrency={concurrency or runtime.settings.stage_concurrency(stage)}",
            f"--hostname={stage}-{os.getpid()}@%h",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
