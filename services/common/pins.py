"""Pins: a service held on the image an operator rolled back to.

While a service is pinned, the committer holds every automatic deploy of it (and says
so); only `shipline unpin` lets automation deploy it again. The pins live in the gitops
branch (services/committer/pins_file.py, `.shipline-gitops/pins.yaml`): that is what the committer
decides on. This store is their cache in Redis, per source repository and service, with no
expiry, for the gateway (which has no git): the committer writes it after each pin or unpin
commit, and its survey refills it from git (after Redis lost its data, or a hand edit).

Pins are per environment: `environment` "" is the first one (every pin of a shipline.yaml
without `environments:`, and of a pins file written before them); a later environment's pin
is named after it, and holds that environment only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import redis

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client

if TYPE_CHECKING:
    from services.common.project import Project

FIRST_ENVIRONMENT = ""  # a pin's environment when it holds the first one


@dataclass(frozen=True)
class Pin:
    repository: str
    service: str
    image: str  # the image the service was rolled back to
    by: str  # who asked for the rollback
    run_id: str  # the rollback's run
    since: float  # unix time
    environment: str = FIRST_ENVIRONMENT  # where it holds the service: "" the first one

    def describe(self) -> str:
        where = f" in {self.environment}" if self.environment else ""
        return f"pinned{where} to {self.image} by {self.by} (rollback run {self.run_id})"


def pin_environment(project: Project, environment: str | None) -> str:
    """The pins' name of `environment` in `project`: FIRST_ENVIRONMENT for None or the
    first environment (ConfigError, permanent, for one shipline.yaml does not name)."""
    if environment is None:
        return FIRST_ENVIRONMENT
    first = project.first_environment
    named = project.environment(environment)
    return FIRST_ENVIRONMENT if first is not None and named.name == first.name else named.name


class PinStore:
    """One JSON value per pin, at `keys.pin(repository, service, environment)`."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis = bytes_client(client)
        self._keys = keys

    def pin(self, repository: str, service: str, image: str, by: str, run_id: str) -> Pin:
        pin = Pin(repository, service, image, by, run_id, time.time())
        self._redis.set(self._keys.pin(repository, service), json.dumps(asdict(pin)))
        return pin

    def put(self, pin: Pin) -> None:
        """Cache a pin as git holds it."""
        key = self._keys.pin(pin.repository, pin.service, pin.environment)
        self._redis.set(key, json.dumps(asdict(pin)))

    def replace(self, repository: str, pins: list[Pin]) -> None:
        """Make the repository's cached pins, in every environment, exactly `pins` (as read
        from git)."""
        wanted = {(pin.environment, pin.service): pin for pin in pins}
        for pin in self.all():
            if pin.repository == repository and (pin.environment, pin.service) not in wanted:
                self._redis.delete(self._keys.pin(repository, pin.service, pin.environment))
        for pin in wanted.values():
            self.put(pin)

    def get(
        self, repository: str, service: str, environment: str = FIRST_ENVIRONMENT
    ) -> Pin | None:
        raw = self._redis.get(self._keys.pin(repository, service, environment))
        return Pin(**json.loads(raw)) if raw else None

    def unpin(
        self, repository: str, service: str, environment: str = FIRST_ENVIRONMENT
    ) -> Pin | None:
        """Remove the pin in `environment`; returns it, or None when it held none there."""
        raw = self._redis.getdel(self._keys.pin(repository, service, environment))
        return Pin(**json.loads(raw)) if raw else None

    def all(self) -> list[Pin]:
        keys = sorted(self._redis.scan_iter(match=self._keys.pins_pattern, count=500))
        pins = [self._redis.get(key.decode()) for key in keys]
        return [Pin(**json.loads(raw)) for raw in pins if raw]
