"""The services tests again, every run indexed from the start (the marker a finished rebuild
leaves): the readers answer from the run indexes exactly what they answered from the scan."""

from __future__ import annotations

import pytest
import redis

from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.run_index import RunIndex
from tests.gateway.test_services import *  # noqa: F403 - the same tests, on the indexes
from tests.gateway.test_services_environments import *  # noqa: F403 - the same tests, on the indexes


@pytest.fixture(autouse=True)
def every_run_indexed(redis_client: redis.Redis) -> None:
    index = RunIndex(redis_client, DEFAULT_KEYSPACE)
    assert index.rebuild_step() is None and index.built()  # nothing to index: recorded
