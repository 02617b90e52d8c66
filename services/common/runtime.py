"""Everything a process needs to talk to the bus, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import redis
from celery import Celery

from services.common.bus import Bus, create_celery
from services.common.deadletters import DeadLetterStore
from services.common.errors import ConfigError
from services.common.eventlog import EventLog
from services.common.keyspace import Keyspace
from services.common.pins import PinStore
from services.common.redis_connect import connect
from services.common.runs import RunStore
from services.common.scan_verdicts import ScanVerdicts
from services.common.service_inventory import InventoryStore
from services.common.settings import Settings


@dataclass
class Runtime:
    settings: Settings

    @property
    def redis_url(self) -> str:
        if not self.settings.redis_url:
            raise ConfigError("redis_url: not set (SHIPLINE_REDIS_URL or redis_url in the config)")
        return self.settings.redis_url

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(
            self.redis_url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
        )

    @cached_property
    def keyspace(self) -> Keyspace:
        return Keyspace(self.settings.redis_namespace)

    @cached_property
    def celery(self) -> Celery:
        return create_celery(self.redis_url, self.settings.visibility_timeout)

    @cached_property
    def runs(self) -> RunStore:
        return RunStore(self.redis, keys=self.keyspace)

    @cached_property
    def event_log(self) -> EventLog:
        return EventLog(self.redis, keys=self.keyspace)

    @cached_property
    def dead_letters(self) -> DeadLetterStore:
        return DeadLetterStore(self.redis, keys=self.keyspace)

    @cached_property
    def pins(self) -> PinStore:
        return PinStore(self.redis, keys=self.keyspace)

    @cached_property
    def inventory(self) -> InventoryStore:
        return InventoryStore(self.redis, keys=self.keyspace)

    @cached_property
    def scan_verdicts(self) -> ScanVerdicts:
        return ScanVerdicts(self.redis, keys=self.keyspace)

    @cached_property
    def bus(self) -> Bus:
        return Bus(self.celery, self.runs, self.event_log)
