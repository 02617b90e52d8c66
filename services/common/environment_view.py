"""What each environment of a repository runs, kept in Redis so the gateway can answer a
promotion request (422, 409, nothing to do) without git of its own.

The committer records it after every commit to a repository with `environments:`
(services/committer/environment_survey.py), each environment read on its own gitops
repository and branch. It is a view: the committer decides each
promotion again on the gitops head, so a view a moment old refuses nothing that git allows
for long, and allows nothing that git refuses.
"""

from __future__ import annotations

import time

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.logging import get_logger
from services.common.redis_types import RedisClient, bytes_client


class Running(BaseModel):
    """A service in one environment: the image its manifest holds, and the source commit it
    was built from when a Shipline commit to that environment wrote it (else `why_not`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    image: str | None = None
    repository: str | None = None
    commit: str | None = None
    why_not: str | None = None  # why what runs here cannot be promoted from here
    pinned: bool = False
    since: float | None = None  # when a view first recorded this image and commit here

    def same_as(self, other: Running) -> bool:
        return (self.image, self.repository, self.commit) == (
            other.image,
            other.repository,
            other.commit,
        )


class EnvironmentView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    name: str
    source: str | None = None  # the environment it is promoted from; None: the first
    releases: bool = False  # release tags deploy here (shipline.yaml `releases: true`)
    services: dict[str, Running] = {}


class EnvironmentsView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    repository: str
    commit: str  # the source commit whose shipline.yaml was read
    surveyed_at: float = Field(default_factory=time.time)
    environments: tuple[EnvironmentView, ...] = ()

    def find(self, name: str) -> EnvironmentView | None:
        return next((env for env in self.environments if env.name == name), None)


class EnvironmentsStore:
    """One JSON view per repository; a failure to read reads as no view."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys

    def read(self, repository: str) -> EnvironmentsView | None:
        try:
            raw = self._redis.get(self._keys.environments(repository))
            return EnvironmentsView.model_validate_json(raw) if raw else None
        except (redis.RedisError, ValidationError) as exc:
            get_logger().warning("environments view not read", error=type(exc).__name__)
            return None

    def record(self, view: EnvironmentsView) -> None:
        """Records the view; each service's `since` is kept from the view before while it
        runs the same image from the same commit, else it is this view's time."""
        dated = with_since(view, self.read(view.repository))
        self._redis.set(self._keys.environments(view.repository), dated.model_dump_json())

    def forget(self, repository: str) -> None:
        self._redis.delete(self._keys.environments(repository))


def with_since(view: EnvironmentsView, before: EnvironmentsView | None) -> EnvironmentsView:
    environments = []
    for environment in view.environments:
        earlier = before.find(environment.name) if before is not None else None
        services = {}
        for name, running in environment.services.items():
            known = earlier.services.get(name) if earlier is not None else None
            kept = known.since if known is not None and known.same_as(running) else None
            since = kept or running.since or view.surveyed_at
            services[name] = running.model_copy(update={"since": since})
        environments.append(environment.model_copy(update={"services": services}))
    return view.model_copy(update={"environments": tuple(environments)})
