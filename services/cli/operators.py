"""The operators' commands of `shipline`: requests and reads through the API at
$SHIPLINE_URL with $SHIPLINE_TOKEN (publish, deploy, release, rollback, unpin, promote, status,
runs, dead-letters, watch). services/cli/main.py adds them to the `shipline` group."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, get_args

import click

from services.common.errors import EventDecodeError
from services.common.event_base import RunStatus

if TYPE_CHECKING:
    from services.cli.api_client import ApiClient


_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: machine-readable, for scripts.",
)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.command()
@click.argument("source", type=click.File("rb"), default="-")
@click.option(
    "--from-dead-letter",
    "letter_id",
    default=None,
    metavar="ID",
    help="Republish the event of this dead letter (GET /api/v1/dead-letters lists them).",
)
@_OUTPUT
def publish(source: IO[bytes], letter_id: str | None, output: str) -> None:
    """Request work with one event (JSON, from a file or stdin), through the API at
    $SHIPLINE_URL with $SHIPLINE_TOKEN: BuildRequested, ImagePushed (a redeploy of an image
    in the registry) or RollbackRequested. A stage's outcome is refused."""
    from services.cli.api_client import TOKEN_MISSING
    from services.common.events import decode_event

    if not os.environ.get("SHIPLINE_TOKEN"):
        raise click.ClickException(TOKEN_MISSING)
    if letter_id is not None:
        from services.common.deadletters import LETTER_ID_PATTERN

        if not re.match(LETTER_ID_PATTERN, letter_id):
            raise click.ClickException(
                f"{letter_id!r} is not a dead letter id (e.g. scanner-<16 hex>)"
            )
        with _api() as client:
            letter = client.get(f"/api/v1/dead-letters/{letter_id}")
            answer = client.post(f"/api/v1/dead-letters/{letter_id}/republish")
        answer["type"] = letter.get("event_type") or "event"
        _echo_published(answer, output, f"republished dead letter {letter_id}:")
        return
    try:
        event = decode_event(source.read())
    except EventDecodeError as exc:
        raise click.ClickException(f"{getattr(source, 'name', '<stdin>')}: {exc}") from None
    with _api() as client:
        answer = client.post("/api/v1/events", event.model_dump(mode="json"))
    verb = "already published, nothing queued:" if answer.get("duplicate") else "published"
    _echo_published({**answer, "type": event.type}, output, verb)


def _echo_published(answer: dict[str, Any], output: str, verb: str) -> None:
    if output == "json":
        _echo_json(answer)
        return
    queue = f" on the {answer['queue']} queue" if answer.get("queue") else ""
    click.echo(
        f"{verb} {answer.get('type', 'event')} {answer['event_id']} for run {answer['run_id']}"
        + queue
    )


@contextlib.contextmanager
def _api() -> Iterator[ApiClient]:
    """A client of the API at $SHIPLINE_URL; its refusals become the command's error."""
    from services.cli.api_client import ApiClient, ApiError

    client = ApiClient.from_env(os.environ)
    try:
        yield client
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()


def _report(
    client: ApiClient,
    answer: dict[str, Any],
    wait: float | None,
    output: str = "table",
    fine: tuple[str, ...] = ("succeeded", "held", "superseded"),
    also: tuple[str, ...] = (),  # statuses that end the wait too
) -> None:
    run_id = answer["run_id"]
    if output != "json":
        click.echo(f"run {run_id} started")
    if wait is None:
        if output == "json":
            _echo_json(answer)
        return
    from services.cli.views import outcome_lines, run_line

    run = client.wait_for_run(run_id, timeout=wait, also=also)  # inside `with _api()`
    if output == "json":
        _echo_json({**answer, "run": run.model_dump(mode="json")})
    else:
        for line in outcome_lines(run)[:-1]:
            click.echo(line)
    if run.status not in fine:
        raise click.ClickException(run_line(run))


_WAIT = click.option(
    "--wait",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Wait this long for the run to finish and show its outcome.",
)
_FIRST = "The environment it acts in (default: the first one)."
_REPOSITORY = click.option(
    "--repository", default=None, help="The configured repository (when there are several)."
)


@click.command()
@click.argument("service")
@click.argument("tag")
@_REPOSITORY
@click.option("--skip-scan", is_flag=True, help="Emergency: deploy without the scan gate.")
@click.option("--reason", default=None, help="Why (required with --skip-scan).")
@_WAIT
@_OUTPUT
def deploy(
    service: str,
    tag: str,
    repository: str | None,
    skip_scan: bool,
    reason: str | None,
    wait: float | None,
    output: str,
) -> None:
    """Deploy an image that is in the registry: SERVICE at TAG, through scan and commit.

    Talks to the API at $SHIPLINE_URL with the bearer token $SHIPLINE_TOKEN."""
    body: dict[str, Any] = {"service": service, "tag": tag, "repository": repository}
    if skip_scan:
        body |= {"skip_scan": True, "reason": reason}
    with _api() as client:
        answer = client.post(
            "/api/v1/deployments", {k: v for k, v in body.items() if v is not None}
        )
        if output != "json":
            click.echo(f"deploying {answer.get('image') or f'{service}:{tag}'}")
        _report(client, answer, wait, output)


@click.command()
@click.argument("tag")
@_REPOSITORY
@_WAIT
@_OUTPUT
def release(tag: str, repository: str | None, wait: float | None, output: str) -> None:
    """Release TAG (an existing release tag): every service built and committed at once.

    Talks to the API at $SHIPLINE_URL with the bearer token $SHIPLINE_TOKEN."""
    body = {"tag": tag, "repository": repository}
    with _api() as client:
        answer = client.post("/api/v1/releases", {k: v for k, v in body.items() if v})
        if output != "json":
            click.echo(f"releasing {tag}")
        _report(client, answer, wait, output)


_ENVIRONMENT = click.option("--environment", "-e", default=None, metavar="ENV", help=_FIRST)


@click.command()
@click.argument("service")
@click.option("--to", "to", default=None, metavar="TAG", help="Default: the image before.")
@_REPOSITORY
@_ENVIRONMENT
@_WAIT
@_OUTPUT
def rollback(
    service: str,
    to: str | None,
    repository: str | None,
    environment: str | None,
    wait: float | None,
    output: str,
) -> None:
    """Put SERVICE back on an earlier image and pin it (automatic deploys are held)."""
    body = {"service": service, "to": to, "repository": repository, "environment": environment}
    with _api() as client:
        answer = client.post("/api/v1/rollbacks", {k: v for k, v in body.items() if v is not None})
        _report(client, answer, wait, output)
    if output != "json":
        where, option = (f" in {environment}", f" -e {environment}") if environment else ("", "")
        held = f"automatic deploys are held until `shipline unpin {service}{option}`"
        click.echo(f"{service} is pinned{where}: {held}")


@click.command()
@click.argument("service")
@_REPOSITORY
@_ENVIRONMENT
@_WAIT
@_OUTPUT
def unpin(
    service: str, repository: str | None, environment: str | None, wait: float | None, output: str
) -> None:
    """Let automatic deploys of SERVICE through again after a rollback: its pin (in ENV
    only, with -e) is removed from the gitops repository in a commit (run RUN_ID)."""
    where = f" in {environment}" if environment else ""
    with _api() as client:
        answer = client.post(
            f"/api/v1/services/{service}/unpin", repository=repository, environment=environment
        )
        if output != "json":
            if answer["unpinned"]:
                was = answer["pin"]["image"]
                click.echo(f"{service} unpinned{where} (was {was}); automatic deploys resume")
            else:
                click.echo(f"{service} was not pinned{where} (any pin left in git is removed too)")
        _report(client, answer, wait, output, fine=("succeeded", "skipped"))


@click.command()
@click.argument("services", nargs=-1, required=True)
@click.option("--to", "to", required=True, metavar="ENV", help="The environment promoted to.")
@_REPOSITORY
@click.option("--reason", default=None, help="Why (recorded in the commit).")
@_WAIT
@_OUTPUT
def promote(
    services: tuple[str, ...],
    to: str,
    repository: str | None,
    reason: str | None,
    wait: float | None,
    output: str,
) -> None:
    """Promote SERVICE... to ENV: the image each runs in the environment ENV is promoted from
    is written into ENV's manifests, one commit, never rebuilt.

    Talks to the API at $SHIPLINE_URL with the bearer token $SHIPLINE_TOKEN."""
    names = sorted(set(services))
    body = {"services": names, "to": to, "repository": repository, "reason": reason}
    with _api() as client:
        answer = client.post("/api/v1/promotions", {k: v for k, v in body.items() if v})
        if answer.get("run_id") is None:  # 200: nothing to promote
            if output == "json":
                _echo_json(answer)
            else:
                click.echo(answer["reason"])
            return
        if output != "json":
            click.echo(f"promoting {', '.join(names)} to {to}")
        # by pull request, --wait ends when the request is open: a person merges it
        waiting = ("awaiting-merge",)
        fine = ("succeeded", "held", "superseded", *waiting)
        _report(client, answer, wait, output, fine, also=waiting)


def _read(path: str, **params: str | None) -> Any:
    with _api() as client:
        return client.get(path, **params)


@click.command()
@_OUTPUT
def status(output: str) -> None:
    """The services table: the image each deploys now (at the gitops head), its last run,
    and whether it is pinned, with a column per environment (its image tag and state) when
    shipline.yaml has `environments:`; then a line per service behind its default branch."""
    from services.cli.views import services_table
    from services.common.service_table import ServicesTable

    answer = _read("/api/v1/services")
    if output == "json":
        _echo_json(answer)
    else:
        click.echo(services_table(ServicesTable.model_validate(answer), time.time()))


@click.command()
@click.option("--service", default=None, help="Only runs that include this service.")
@click.option(
    "--status",
    type=click.Choice(get_args(RunStatus)),
    default=None,
)
@click.option("--since", default=None, help="ISO 8601 time or seconds since the epoch.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@_OUTPUT
def runs(
    service: str | None, status: str | None, since: str | None, limit: int, output: str
) -> None:
    """Recent runs, newest first."""
    from services.cli.views import runs_table
    from services.common.run_models import RunPage

    answer = _read("/api/v1/runs", service=service, status=status, since=since, limit=str(limit))
    if output == "json":
        _echo_json(answer)
    else:
        click.echo(runs_table(RunPage.model_validate(answer).runs, time.time()))


@click.command("dead-letters")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@_OUTPUT
def dead_letters(limit: int, output: str) -> None:
    """The events the stages gave up on, newest first, and why; `shipline publish
    --from-dead-letter ID` queues one again."""
    from services.cli.views import dead_letters_table

    answer = _read("/api/v1/dead-letters", limit=str(limit))
    if output == "json":
        _echo_json(answer)
        return
    from services.common.deadletters import republish_command

    click.echo(dead_letters_table(answer["dead_letters"], time.time()))
    shown, total = len(answer["dead_letters"]), answer["total"]
    if shown < total:
        click.echo(f"({shown} of {total}; --limit shows more)")
    if shown:
        click.echo(f"to queue one again once its cause is fixed: {republish_command('ID')}")


@click.command()
@click.argument("run_id")
@click.option("--timeout", type=float, default=3600.0, show_default=True, metavar="SECONDS")
@_OUTPUT
def watch(run_id: str, timeout: float, output: str) -> None:
    """Follow RUN_ID live, per service and stage, until it ends; exits 1 when it failed or
    was blocked."""
    from rich.console import Console

    from services.cli.views import FAILED_RUN_STATUSES, Watch, outcome_lines

    with _api() as client:
        run = Watch(client, run_id, output, Console()).run(timeout)
    if output == "json":
        _echo_json(run.model_dump(mode="json"))
    else:
        for line in outcome_lines(run):
            click.echo(line)
    if run.status in FAILED_RUN_STATUSES:
        sys.exit(1)


OPERATOR_COMMANDS = (
    publish,
    deploy,
    release,
    rollback,
    unpin,
    promote,
    status,
    runs,
    dead_letters,
    watch,
)
