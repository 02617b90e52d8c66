"""`shipline doctor [-o json]`: exit 0 when nothing fails (warnings allowed), 1 otherwise."""

from __future__ import annotations

import sys

import click

from services.common.errors import ConfigError


@click.command()
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def doctor(output: str) -> None:
    """Check everything a deploy needs: Redis, the Docker engine, registries, Trivy, the
    repositories and their shipline.yaml, the gitops repositories; one line per check, with
    what to do when it fails."""
    from services.common.logging import configure_logging
    from services.common.settings import load_settings
    from services.doctor.plan import run_doctor
    from services.doctor.render import as_json, as_text
    from services.doctor.result import broken

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    configure_logging(settings.log_format, "WARNING")
    results = run_doctor(settings)
    click.echo(as_json(results) if output == "json" else as_text(results))
    sys.exit(1 if broken(results) else 0)
