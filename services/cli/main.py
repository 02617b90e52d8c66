"""The `shipline` command: the processes (api, worker, up, probe, demo); the operators'
commands that go through the API are in services/cli/operators.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from pathlib import Path

import click

from services.cli.operators import OPERATOR_COMMANDS
from services.cli.scanner_db import scanner
from services.cli.validate import validate
from services.common.errors import ConfigError
from services.common.heartbeat import MAX_AGE_SECONDS
from services.common.logging import configure_logging
from services.common.settings import STAGES, Settings, load_settings
from services.common.stage_secrets import PROCESSES
from services.common.timeouts import GATEWAY_DRAIN_SECONDS
from services.doctor.command import doctor


def _settings(processes: Collection[str] = PROCESSES) -> Settings:
    """The settings; the secrets `processes` use must be readable (common/stage_secrets.py)."""
    try:
        settings = load_settings(processes)
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    configure_logging(settings.log_format)
    return settings


def _require_trivy(settings: Settings) -> None:
    """The scanner does not start without Trivy: an unscanned image must never deploy."""
    from services.scanner.trivy import TrivyNotFound, locate_trivy

    try:
        locate_trivy(settings.scanner.trivy_path)
    except TrivyNotFound as exc:
        raise click.ClickException(f"the scanner cannot start: {exc}") from None


@click.group()
@click.version_option(package_name="shipline")
def main() -> None:
    """Shipline: git push in, deployed image out, GitOps style."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--drain-seconds",
    default=GATEWAY_DRAIN_SECONDS,
    show_default=True,
    type=float,
    help="On SIGTERM, how long requests in flight may take to finish.",
)
def api(host: str, port: int, drain_seconds: float) -> None:
    """Serve the HTTP API (webhooks, runs, health); SIGTERM drains, then exits 0."""
    from services.gateway import drain
    from services.gateway.app import create_app

    settings = _settings(["gateway"])
    drain.serve(create_app(settings), host, port, drain_seconds)


@main.command()
@click.argument("stage", type=click.Choice(STAGES))
@click.option("--concurrency", type=int, default=None, help="Parallel tasks in this worker.")
def worker(stage: str, concurrency: int | None) -> None:
    """Run the worker of one stage."""
    from services.common.runtime import Runtime
    from services.common.worker import run_worker

    settings = _settings([stage])
    if stage == "scanner":
        _require_trivy(settings)
    run_worker(Runtime(settings), stage, concurrency)


@main.command()
@click.argument("stages", nargs=-1, type=click.Choice(STAGES))
@click.option(
    "--max-age",
    default=MAX_AGE_SECONDS,
    show_default=True,
    type=float,
    help="Seconds without a heartbeat after which the worker counts as hung.",
)
@click.option("--ready", is_flag=True, help="Also require the worker to be consuming.")
def probe(stages: tuple[str, ...], max_age: float, ready: bool) -> None:
    """Health probe: exit 0 while the worker of each STAGE (with none named: every worker
    that beats here) wrote its heartbeat within --max-age; a worker waiting for Redis still
    beats. Reads a file only: no settings, no Redis (services/common/heartbeat.py)."""
    from services.common.heartbeat import check

    healthy, lines = check(list(stages), max_age, ready)
    if not healthy:
        raise click.ClickException("\n".join(lines))
    click.echo("\n".join(lines))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def up(host: str, port: int) -> None:
    """API and every stage's worker in one supervised process group (embedded Redis if
    needed). The verifier always runs: without `clusters` in the settings it stays idle."""
    from services.cli.supervisor import Supervisor

    settings = _settings()
    _require_trivy(settings)
    env = dict(os.environ)
    redis_server = None
    if not settings.redis_url:
        from services.devenv.redis_server import RedisServer, RedisServerError

        # on a unix socket only, with a password of its own: out of reach of builds,
        # even of those on the host's network
        try:
            redis_server = RedisServer(
                settings.workdir / "redis", appendonly=True, unix_socket=True
            ).start()
        except RedisServerError as exc:
            raise click.ClickException(f"embedded Redis: {exc}") from None
        env["SHIPLINE_REDIS_URL"] = redis_server.url
        click.echo(
            f"embedded Redis at {redis_server.display_url} ({redis_server.version}, "
            "password generated)",
            err=True,
        )
    from services.doctor.startup import log_startup_problems

    url = redis_server.url if redis_server is not None else settings.redis_url
    log_startup_problems(settings.model_copy(update={"redis_url": url}))
    supervisor = Supervisor(env)
    supervisor.add("api", "api", "--host", host, "--port", str(port))
    for stage in STAGES:
        supervisor.add(stage, "worker", stage)
    click.echo(f"Shipline API on http://{host}:{port}; workers: {', '.join(STAGES)}", err=True)
    try:
        supervisor.run()
    finally:
        if redis_server is not None:
            redis_server.stop()


@main.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=Path(".shipline/demo"))
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--environments",
    is_flag=True,
    help="Staging and production: the push lands in staging, production takes it by itself.",
)
def demo(workdir: Path, port: int, environments: bool) -> None:
    """Sample monorepo, one push, the whole pipeline, a readable result."""
    from services.demo.run import run_demo

    configure_logging("console", "WARNING")
    sys.exit(run_demo(workdir.resolve(), port, environments))


for command in OPERATOR_COMMANDS:
    main.add_command(command)
main.add_command(validate)
main.add_command(doctor)
main.add_command(scanner)
