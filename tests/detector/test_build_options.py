"""The detector hands the builder each service's build args and target from shipline.yaml."""

from services.common.events import PushReceived, Source
from services.common.project import parse_project
from services.detector.detect import change_event

COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
PROJECT = """
registry: 127.0.0.1:5000/acme
services:
  api:
    path: api/
    build_args: {PYTHON_VERSION: "3.12", WORKERS: 4}
    target: runtime
  web:
    path: web/
"""


def push() -> PushReceived:
    return PushReceived(
        run_id="run-1",
        provider="github",
        delivery_id="d-1",
        repository="acme/shop",
        ref="refs/heads/main",
        before="a" * 40,
        after=COMMIT,
    )


def test_build_args_and_target_of_a_service_travel_in_its_change_detected():
    project = parse_project(PROJECT)
    source = Source(repository="acme/shop", commit=COMMIT, ref="refs/heads/main")

    api = change_event(push(), project, "api", source, ("sha-6113728",), "paths")
    web = change_event(push(), project, "web", source, ("sha-6113728",), "paths")

    assert api.build_args == {"PYTHON_VERSION": "3.12", "WORKERS": "4"}
    assert api.target == "runtime"
    assert (web.build_args, web.target) == ({}, None)
