"""A run's keys in the default namespace, for the run store and its projection until they
take a Keyspace (services/common/keyspace.py builds every key: Keyspace.run, run_service…)."""

from __future__ import annotations

from services.common.keyspace import DEFAULT_KEYSPACE

INDEX = DEFAULT_KEYSPACE.runs_index
run_key = DEFAULT_KEYSPACE.run
service_key = DEFAULT_KEYSPACE.run_service
services_key = DEFAULT_KEYSPACE.run_services
finished_key = DEFAULT_KEYSPACE.run_finished
scanned_key = DEFAULT_KEYSPACE.run_scanned
