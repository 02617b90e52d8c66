"""A change to the gitops checkout, and how it lands: prepared on the remote head, committed
as the bot and pushed; a push rejected because the branch moved is prepared again on the new
head and retried with backoff."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.committer.formats import write_image
from services.committer.images import ImageEdit, ImageRef
from services.committer.yamlsplice import ManifestError
from services.common.errors import PermanentError, TransientError
from services.common.git_checkout import Checkout, PushRejected
from services.common.logging import get_logger
from services.common.project import ServiceSpec
from services.common.settings import BotIdentity
from services.common.stage import backoff
from services.common.timeouts import PUSH_ATTEMPTS, PUSH_BACKOFF_CAP_SECONDS

R = TypeVar("R")


@dataclass(frozen=True)
class Change(Generic[R]):
    """Files written in the checkout, to be committed; `done` makes the result from the sha.
    No paths: nothing to commit, `done` gives the result as it is."""

    paths: list[str]
    message: str
    done: Callable[[str], R]


def finished(result: R) -> Change[R]:
    return Change([], "", lambda _sha: result)


def land(checkout: Checkout, prepare: Callable[[], Change[R]], bot: BotIdentity) -> R:
    """Sync, prepare, commit and push; on a rejected push start over from the new head."""
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        checkout.sync()
        step = prepare()
        if not step.paths:
            return step.done("")
        try:
            sha = checkout.commit_and_push(step.paths, step.message, bot.name, bot.email)
        except PushRejected:
            get_logger().info("push rejected, re-applying on the new head", attempt=attempt)
            time.sleep(backoff(attempt, base=0.2, cap=PUSH_BACKOFF_CAP_SECONDS))
            continue
        get_logger().info("committed", commit=sha, paths=step.paths)
        return step.done(sha)
    raise TransientError(f"push to {checkout.branch} rejected {PUSH_ATTEMPTS} times")


def read_manifest(checkout: Checkout, path: str) -> str:
    text = checkout.read(path)
    if text is None:
        raise PermanentError(f"manifest {path} does not exist on {checkout.branch}")
    return text


def edit_manifest(
    text: str, service: str, spec: ServiceSpec, image: ImageRef, path: str
) -> ImageEdit:
    try:
        return write_image(text, service, spec, image)
    except ManifestError as exc:
        raise PermanentError(f"{path}: {exc}") from None
