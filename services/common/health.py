"""Can this process reach Redis? The worker health probe and the start-up wait.

Workers have no HTTP port, so orchestrators probe them with a command: ``shipline probe
<stage>`` exits 0 when Redis answers and non-zero when it does not (Kubernetes exec
probes, docker-compose healthchecks). At start-up a worker waits for Redis with
exponential backoff instead of crashing while Redis is still coming up.

Errors never carry the Redis password, even when the URL holds one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.common.errors import TransientError
from services.common.redis_connect import connect


class RedisUnreachable(TransientError):
    """Redis did not answer; the message says why, without credentials."""


def check_redis(url: str, *, timeout: float = 3.0, queue: str | None = None) -> int | None:
    """PING Redis once; with ``queue``, also return how many messages wait in that list.

    Raises :class:`RedisUnreachable` when Redis cannot be reached or refuses the client.
    """
    client = connect(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),  # one attempt: the caller decides whether to retry
    )
    try:
        client.ping()
        return int(client.llen(queue)) if queue else None
    except (redis.RedisError, OSError) as exc:
        raise RedisUnreachable(_describe(exc, url)) from None
    finally:
        client.close()


def wait_for_redis(
    url: str,
    *,
    deadline: float = 300.0,
    first_delay: float = 0.5,
    max_delay: float = 10.0,
    timeout: float = 3.0,
    on_retry: Callable[[int, float, str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Block until Redis answers; return the number of attempts it took.

    Between attempts it sleeps ``first_delay * 2**n`` seconds (capped at ``max_delay``,
    with jitter), calling ``on_retry(attempt, delay, reason)`` before each sleep. After
    ``deadline`` seconds it gives up with the last :class:`RedisUnreachable`, so the
    process exits non-zero and its supervisor (Kubernetes, compose) restarts it.
    """
    give_up_at = clock() + deadline
    attempt = 0
    while True:
        attempt += 1
        try:
            check_redis(url, timeout=timeout)
            return attempt
        except RedisUnreachable as exc:
            remaining = give_up_at - clock()
            if remaining <= 0:
                raise RedisUnreachable(f"gave up after {attempt} attempts: {exc}") from None
            delay = min(max_delay, first_delay * 2 ** (attempt - 1))
            delay = min(remaining, random.uniform(delay / 2, delay))  # noqa: S311 - jitter
            if on_retry is not None:
                on_retry(attempt, delay, str(exc))
            sleep(delay)


def _describe(exc: BaseException, url: str) -> str:
    message = f"{type(exc).__name__}: {exc}"
    password = urlsplit(url).password
    return message.replace(password, "***") if password else message
