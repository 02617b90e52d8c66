"""`shipline scanner fetch-db [--java] [--cache-dir DIR]`: download Trivy's vulnerability DB
(and the Java DB) once, from `scanner.db_repository` (else Trivy's own source), into
`scanner.cache_dir`, where every scanner worker running `offline: true` reads it."""

from __future__ import annotations

from pathlib import Path

import click

from services.common.errors import ConfigError, ShiplineError
from services.common.registry_auth import registry_login, split_repository


@click.group()
def scanner() -> None:
    """The scanner's Trivy databases."""


@scanner.command("fetch-db")
@click.option("--java", is_flag=True, help="Also fetch the Java DB (for images with jar files).")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put it (default: scanner.cache_dir, else <workdir>/trivy-cache).",
)
def fetch_db_command(java: bool, cache_dir: Path | None) -> None:
    """Download Trivy's vulnerability DB from the configured mirror into the scanner's cache,
    once, for workers that scan offline; run it again (a cron job) to refresh it."""
    from services.common.logging import configure_logging
    from services.common.settings import load_settings
    from services.scanner.trivy_db import DbKind, fetch_db, sources

    try:
        settings = load_settings(processes=())
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    configure_logging(settings.log_format, "WARNING")
    target = cache_dir or settings.scanner.cache_dir or settings.workdir / "trivy-cache"
    kinds: list[DbKind] = ["db", "java-db"] if java else ["db"]
    for kind in kinds:
        hosts = {split_repository(ref)[0] for ref in sources(settings.scanner, kind)}
        # A mirror's credential from registry_auth, only when every mirror is on its host.
        login = registry_login(settings, f"{hosts.pop()}/trivy") if len(hosts) == 1 else None
        try:
            fetched = fetch_db(
                settings.scanner, target, kind, settings.builder.insecure_registries, login
            )
        except ShiplineError as exc:
            raise click.ClickException(str(exc)) from None
        what = "vulnerability DB" if kind == "db" else "Java DB"
        meta = fetched.metadata
        built = f" built {meta.UpdatedAt:%Y-%m-%d %H:%M} UTC" if meta else ""
        due = f", next update due {meta.NextUpdate:%Y-%m-%d}" if meta and meta.NextUpdate else ""
        click.echo(
            f"{what}{built}{due}: fetched from {', '.join(fetched.sources)} "
            f"into {fetched.directory}"
        )
