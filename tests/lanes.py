"""Two lanes: `make unit` runs the tests that need no external component, `make test` all.

An external component is anything the project's virtualenv does not hold: Redis (the
embedded Valkey too: a server process), dockerd, a registry, Trivy, kustomize or kubectl,
docker-compose, chromium, git and git servers, a spawned Shipline (`shipline up`, a worker,
the installed command) and PyPI. git counts although every development machine has it: a
test that builds repositories spawns dozens of git processes, and those tests alone took
longer than the whole unit lane (about 100 s on 2 shared cores). A server the test runs in
its own process (tests/notifier/servers.py, the verifier's fake API server) is not one.

A test is `integration` when it uses a fixture of COMPONENT_FIXTURES, directly or through
other fixtures (`item.fixturenames` is the closure), or when its module or the test itself
says so by hand (`pytestmark = pytest.mark.integration  # why`): one that starts a
component itself.

`pytest --unit` (make unit) is `-m "not integration"`, and a test left in that still
reaches a component fails at once, naming what it reached, instead of hanging or passing by
luck: a component fixture, a component's program started (audit event `subprocess.Popen`),
a connection to a component's well-known port or socket (audit event `socket.connect`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

INTEGRATION = "integration"
SERIAL = "serial"

# Modules `make test-parallel` runs alone, after the rest ran on parallel pytest-xdist workers:
# their outcome depends on timing that the other workers' load on the shared cores would skew.
SERIAL_MODULES = {
    "tests/e2e/test_chaos_wipe.py": "kill -9 and FLUSHALL on a timeline; its pushes race the "
    "committer's",
    "tests/e2e/test_crash_safety.py": "kill -9 at random points; its pushes race the committer's",
    "tests/e2e/test_redis_restart.py": "Redis away and back while work is in flight",
    "tests/e2e/test_redis_wipe.py": "Redis wiped while a build ends",
    "tests/e2e/test_sweep.py": "Redis wiped, then two sweeps a period apart",
    "tests/e2e/test_sentinel_failover.py": "a master killed mid-run, a replica promoted",
    "tests/deploy/test_worker_heartbeat.py": "heartbeat intervals measured against a clock",
}

# Fixture → the component it starts or needs. Fixtures built on these need not be listed.
COMPONENT_FIXTURES = {
    "redis_server": "Redis",
    "redis_url": "Redis",
    "redis_client": "Redis",
    "redis_6_2_binary": "Redis 6.2 (built into the devenv state)",
    "tls_redis": "Redis with TLS",
    "socket_redis": "Redis on a unix socket",
    "sentinel_group": "Redis Sentinel",
    "own_redis": "Redis",
    "private_dockerd": "dockerd",
    "docker_host": "dockerd",
    "docker_client": "dockerd",
    "base_image": "dockerd",
    "debian_base": "dockerd",
    "compose_images": "dockerd and docker-compose",
    "registry": "a registry",
    "auth_registry": "a registry",
    "trivy_path": "Trivy",
    "trivy_server": "a Trivy server",
    "kustomize": "kustomize or kubectl",
    "compose": "docker-compose",
    "http_server": "a git HTTP server",
    "ssh_server": "a git SSH server",
    "git_host": "a git HTTP server",
    "browser": "chromium",
    "stack": "a spawned `shipline up`",
    "start_worker": "spawned Shipline workers",
    "mono": "git",  # tests/detector/conftest.py: a monorepo, its bare remote and mirror
    "seeded": "git",
    "shipline_wheel": "pip",
    "user_venv": "pip and PyPI",
}

# Programs a unit test must not start (by file name), and what they are.
COMPONENT_PROGRAMS = {
    "git": "git",
    "redis-server": "Redis",
    "valkey-server": "Redis",
    "redis-sentinel": "Redis Sentinel",
    "dockerd": "dockerd",
    "containerd": "dockerd",
    "docker": "dockerd",
    "docker-compose": "docker-compose",
    "registry": "a registry",
    "docker-registry": "a registry",
    "trivy": "Trivy",
    "kubectl": "kubectl",
    "kustomize": "kustomize",
    "sshd": "a git SSH server",
    "chromium": "chromium",
    "debootstrap": "debootstrap",
    "htpasswd": "htpasswd (a registry's users)",
    "shipline": "a spawned Shipline",
    "celery": "a spawned Shipline worker",
    "uvicorn": "a spawned gateway",
}
PYTHON_MODULES = {
    "services.cli": "a spawned Shipline",
    "celery": "a spawned Shipline worker",
    "uvicorn": "a spawned gateway",
    "pip": "pip and PyPI",
}
COMPONENT_PORTS = {
    6379: "Redis",
    26379: "Redis Sentinel",
    5000: "a registry",
    2375: "dockerd",
    2376: "dockerd",
}
COMPONENT_SOCKETS = {"docker.sock": "dockerd", "containerd.sock": "dockerd", "redis.sock": "Redis"}


def component_fixtures(fixturenames: Sequence[str]) -> dict[str, str]:
    """The component fixtures among a test's fixtures, with what each needs."""
    return {name: COMPONENT_FIXTURES[name] for name in fixturenames if name in COMPONENT_FIXTURES}


def component_program(executable: Any, argv: Any) -> str | None:
    """What a started process is, when it is a component (None for anything else)."""
    args = [os.fsdecode(arg) for arg in argv] if isinstance(argv, list | tuple) else [str(argv)]
    name = Path(os.fsdecode(executable) if executable else args[0]).name
    if name == "git" and args[1:] == ["version"]:
        return None  # GitPython asks once, on import
    if name in COMPONENT_PROGRAMS:
        return COMPONENT_PROGRAMS[name]
    if name.startswith("python") and "-m" in args:
        module = args[args.index("-m") + 1] if args[-1] != "-m" else ""
        return PYTHON_MODULES.get(module)
    return None


def component_address(address: Any) -> str | None:
    """What a connection reaches, when it is a component's well-known port or socket."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
        return COMPONENT_PORTS.get(address[1])
    if isinstance(address, str | bytes):
        return COMPONENT_SOCKETS.get(Path(os.fsdecode(address)).name)
    return None


class UnitGuard:
    """Fails the running unit test that reaches a component (installed once, by --unit)."""

    def __init__(self) -> None:
        self.current: str | None = None  # the running test's id; collection is free

    def refuse(self, what: str, how: str) -> None:
        pytest.fail(
            f"{self.current} reached {what} ({how}) in the unit lane: it is an integration "
            f"test. Mark its module `pytestmark = pytest.mark.{INTEGRATION}` or use the "
            "component's fixture (tests/lanes.py).",
            pytrace=False,
        )

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if self.current is None:
            return
        if event == "subprocess.Popen":
            what = component_program(args[0], args[1])
            if what:
                self.refuse(what, f"started {args[1]!r}")
        elif event == "socket.connect":
            what = component_address(args[1])
            if what:
                self.refuse(what, f"connected to {args[1]!r}")


_guard: UnitGuard | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _guard is not None:
        _guard.audit(event, args)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--unit",
        action="store_true",
        help="run only the tests that need no external component (tests/lanes.py); a unit "
        "test that reaches one fails",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _guard
    if not config.getoption("unit"):
        return
    chosen = config.option.markexpr  # `--unit` is `-m "not integration"`, and the guard
    config.option.markexpr = f"({chosen}) and not {INTEGRATION}" if chosen else f"not {INTEGRATION}"
    if _guard is None:
        _guard = UnitGuard()
        sys.addaudithook(_audit)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _guard
    _guard = None  # an audit hook stays for the process's life: make it inert


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if component_fixtures(getattr(item, "fixturenames", ())):
            item.add_marker(INTEGRATION)
        if module_of(item) in SERIAL_MODULES:
            item.add_marker(SERIAL)
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: see integration_modules_first
        items[:] = integration_modules_first(items)


def module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def integration_modules_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The modules holding an integration test before the others, each in its own order.

    On parallel workers (`--dist loadfile` hands out whole modules in this order) the slow
    modules start first and the quick unit modules fill the gaps at the end, instead of a
    slow module started last keeping one worker busy while the others idle. Every worker
    sorts alike, as pytest-xdist requires."""
    slow = {module_of(item) for item in items if item.get_closest_marker(INTEGRATION)}
    return sorted(items, key=lambda item: module_of(item) not in slow)  # stable


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    if _guard is not None and fixturedef.argname in COMPONENT_FIXTURES:
        _guard.refuse(COMPONENT_FIXTURES[fixturedef.argname], f"fixture {fixturedef.argname}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if _guard is None:
        return (yield)
    _guard.current = item.nodeid
    try:
        return (yield)
    finally:
        _guard.current = None
