"""The `shipline` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

import click

from services.common.errors import ConfigError, EventDecodeError
from services.common.logging import configure_logging
from services.common.settings import STAGES, Settings, load_settings


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    configure_logging(settings.log_format)
    return settings


@click.group()
@click.version_option(package_name="shipline")
def main() -> None:
    """Shipline: git push in, deployed image out, GitOps style."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def api(host: str, port: int) -> None:
    """Serve the HTTP API (webhooks, runs, health)."""
    import uvicorn

    from services.gateway.app import create_app

    settings = _settings()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@main.command()
@click.argument("stage", type=click.Choice(STAGES))
@click.option("--concurrency", type=int, default=None, help="Parallel tasks in this worker.")
def worker(stage: str, concurrency: int | None) -> None:
    """Run the worker of one stage."""
    from services.common.runtime import Runtime
    from services.common.worker import run_worker

    run_worker(Runtime(_settings()), stage, concurrency)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def up(host: str, port: int) -> None:
    """API and all five workers in one supervised process group (embedded Redis if needed)."""
    from services.common.supervisor import Supervisor

    settings = _settings()
    env = dict(os.environ)
    redis_server = None
    if not settings.redis_url:
        from services.devenv.redis_server import RedisServer

        redis_server = RedisServer(settings.workdir / "redis", appendonly=True)
        redis_server.start()
        env["SHIPLINE_REDIS_URL"] = redis_server.url
        click.echo(f"embedded Redis at {redis_server.url}", err=True)
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
@click.argument("source", type=click.File("rb"), default="-")
def publish(source: IO[bytes]) -> None:
    """Put one event (JSON, from a file or stdin) on its stage's queue."""
    from services.common.events import decode_event
    from services.common.runtime import Runtime

    settings = _settings()
    try:
        event = decode_event(source.read())
    except EventDecodeError as exc:
        raise click.ClickException(f"{source.name}: {exc}") from None
    runtime = Runtime(settings)
    if runtime.runs.get(event.run_id) is None:
        runtime.runs.create(event.run_id, trigger="manual")
        service = getattr(event, "service", None)
        if service:
            runtime.runs.plan(event.run_id, [service])
    runtime.bus.publish(event)
    click.echo(f"published {event.type} {event.event_id} for run {event.run_id}")


@main.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=Path(".shipline/demo"))
@click.option("--port", default=8080, show_default=True, type=int)
def demo(workdir: Path, port: int) -> None:
    """Sample monorepo, one push, the whole pipeline, a readable result."""
    from services.demo.run import run_demo

    configure_logging("console", "WARNING")
    sys.exit(run_demo(workdir.resolve(), port))


if __name__ == "__main__":
    main()
