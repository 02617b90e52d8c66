"""What the read commands of `shipline` print: kubectl-style tables, and `watch`'s live
progress (a rich table with spinners on a terminal, one line per change otherwise)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from services.cli.api_client import FINAL_RUN_STATUSES, ApiClient, ApiError
from services.common.run_models import Run, RunDetail, TimelineStage
from services.common.run_records import status_with_reason
from services.common.service_table import ServicesTable, ServiceState

FAILED_RUN_STATUSES = ("failed", "blocked")


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned, upper-case headed columns separated by three spaces (as `kubectl get`)."""
    table = [list(headers), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table
    ]
    return "\n".join(line.rstrip() for line in lines)


def age(since: float | None, now: float) -> str:
    if since is None:
        return "-"
    seconds = max(0, int(now - since))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def services_table(table: ServicesTable, now: float) -> str:
    clustered = any(row.cluster for row in table.services)
    environments = environment_names(table.services)
    rows = [
        [
            *_service_cells(row, now),
            *([cluster_cell(row)] if clustered else []),
            *[environment_cell(row, name) for name in environments],
        ]
        for row in table.services
    ]
    headers = ["SERVICE", "REPOSITORY", "IMAGE", "LAST RUN", "STATUS", "AGE", "PINNED"]
    headers += ["CLUSTER"] if clustered else []
    text = columns(headers + [name.upper() for name in environments], rows)
    behind = [f"{row.service}: {line}" for row in table.services if (line := drift_line(row, now))]
    problems = [f"error: {error.repository}: {error.reason}" for error in table.errors]
    return "\n".join([text, *behind, *problems])


def drift_line(row: ServiceState, now: float) -> str | None:
    """For a service behind its default branch, e.g. "behind by 3 commits since 1a2b3c4;
    last attempt failed: registry unreachable; retrying in 40 s"; None otherwise."""
    drift = row.drift
    if drift is None or drift.state != "behind":
        return None
    count = drift.behind_by or 0
    parts = [f"behind by {count} commit{'' if count == 1 else 's'} since {drift.since}"]
    attempt = drift.last_attempt
    if attempt is not None and attempt.status in ("failed", "blocked"):
        reason = (attempt.reason or "").splitlines()[0] if attempt.reason else ""
        parts.append(f"last attempt {attempt.status}: {reason}".rstrip(": "))
    elif attempt is not None and attempt.status in ("pending", "running"):
        parts.append(f"a build is under way ({attempt.run_id})")
    if drift.retry_at is not None:
        wait = math.ceil(drift.retry_at - now)
        parts.append(f"retrying in {wait} s" if wait > 0 else "retrying now")
    if row.pinned:
        parts.append("held by its pin")
    return "; ".join(parts)


def _service_cells(row: ServiceState, now: float) -> list[str]:
    last = row.last_run
    return [
        row.service,
        row.repository,
        row.image or f"? {row.problem or ''}".strip(),
        last.run_id if last else "-",
        last.status if last else "-",
        age(last.created_at if last else None, now),
        f"yes ({row.pin.image})" if row.pinned and row.pin else "no",
    ]


def cluster_cell(row: ServiceState) -> str:
    """E.g. "prod: Synced/Healthy 2/2 ready", and the image it runs when git says otherwise."""
    if not row.cluster:
        return "-"
    live = row.live
    if live is None:
        return f"{row.cluster}: not seen yet"
    state = f"{live.sync or '-'}/{live.health or '-'}"
    text = f"{row.cluster}: {state} {live.ready_replicas}/{live.replicas} ready"
    return text if live.matches_git else f"{text}, runs {live.image}"


def environment_names(services: Sequence[ServiceState]) -> list[str]:
    """Every environment any service lists, in the order shipline.yaml gives them."""
    names: dict[str, None] = {}
    for row in services:
        names.update((env.name, None) for env in row.environments or [])
    return list(names)


def environment_cell(row: ServiceState, name: str) -> str:
    """E.g. "sha-1a2b3c4 healthy": the image's tag (without its digest) and its state."""
    found = next((env for env in row.environments or [] if env.name == name), None)
    if found is None:
        return "-"
    if found.image is None:
        return found.state
    reference = found.image.split("@", 1)[0]
    tail = reference.rsplit("/", 1)[-1]
    tag = tail.split(":", 1)[1] if ":" in tail else "latest"
    return f"{tag} {found.state}"


def runs_table(runs: Sequence[Run], now: float) -> str:
    rows = [
        [
            run.run_id or "-",
            run.status or "-",
            run.trigger or "",
            ",".join(run.services) or "-",
            (run.commit or "-")[:7],
            age(run.created_at, now),
        ]
        for run in runs
    ]
    return columns(["RUN", "STATUS", "TRIGGER", "SERVICES", "COMMIT", "AGE"], rows)


def dead_letters_table(letters: Sequence[dict[str, Any]], now: float) -> str:
    rows = [
        [
            letter["id"],
            letter["cause"],
            letter.get("event_type") or "-",
            letter.get("run_id") or "-",
            letter.get("service") or "-",
            age(letter.get("dead_at"), now),
            str(letter.get("replays", 0)),
            letter["message"].splitlines()[0][:60] if letter["message"] else "",
        ]
        for letter in letters
    ]
    return columns(["ID", "CAUSE", "EVENT", "RUN", "SERVICE", "AGE", "REPLAYS", "WHY"], rows)


def outcome_lines(run: Run) -> list[str]:
    """How a finished run went: one line per service (its image, or why not), the release it
    published on the git host (a release run's), then the run's status with the reason a
    run-wide failure (a detector's, say) recorded."""
    lines = []
    for name, service in sorted(run.services.items()):
        reason, status = service.reason, service.status
        detail = status_with_reason(status, reason) if reason else f"{status} {service.image}"
        lines.append(f"{name}: {detail}".rstrip())
    if run.host_release:
        lines.append(f"release on the git host: {run.host_release}")
    return [*lines, run_line(run)]


def run_line(run: Run) -> str:
    """`run ID STATUS`, and `: why` when the run itself failed (not one of its services)."""
    line = f"run {run.run_id} {run.status}"
    return f"{line}: {run.failure}" if run.failure else line


def stage_states(run: RunDetail) -> dict[tuple[str, str], TimelineStage]:
    """(service, stage) → that stage's timeline entry, in pipeline order per service."""
    return {
        (service, stage.stage): stage
        for service, stages in sorted(run.timeline.items())
        for stage in stages
    }


def _seconds(stage: TimelineStage) -> str:
    return f"{stage.seconds:.1f}s" if stage.seconds is not None else ""


def progress_table(run: RunDetail) -> Table:
    table = Table(title=f"run {run.run_id}: {run.status}", title_justify="left")
    for header in ("SERVICE", "STAGE", "STATE", "TIME", ""):
        table.add_column(header)
    for (service, stage), entry in stage_states(run).items():
        busy = Spinner("dots") if entry.state == "running" else ""
        table.add_row(service, stage, entry.state, _seconds(entry), busy)
    return table


class Watch:
    """Follows one run until it ends: fetches the run on every event of its stream."""

    def __init__(self, client: ApiClient, run_id: str, output: str, console: Console) -> None:
        self.client, self.run_id, self.output, self.console = client, run_id, output, console
        self._shown: dict[tuple[str, str], str] = {}

    def run(self, timeout: float) -> RunDetail:
        """The run once it has ended; progress shown on the way unless the output is json."""
        run = self._fetch()
        deadline = time.monotonic() + timeout
        if self.console.is_terminal and self.output == "table":
            with Live(progress_table(run), console=self.console, refresh_per_second=8) as live:
                return self._follow(run, deadline, lambda r: live.update(progress_table(r)))
        if self.output == "json":
            return self._follow(run, deadline, lambda _: None)
        return self._follow(run, deadline, self._print_changes)

    def _follow(
        self, run: RunDetail, deadline: float, show: Callable[[RunDetail], None]
    ) -> RunDetail:
        show(run)
        after = None
        while run.status not in FINAL_RUN_STATUSES:
            if time.monotonic() > deadline:
                raise ApiError(f"run {self.run_id} is still {run.status} (watch timed out)")
            for entry_id, _ in self.client.stream_events(self.run_id, after):
                after = entry_id
                run = self._fetch()
                show(run)
            run = self._fetch()
        show(run)
        return run

    def _fetch(self) -> RunDetail:
        return self.client.run(self.run_id)

    def _print_changes(self, run: RunDetail) -> None:
        for (service, stage), entry in stage_states(run).items():
            line = f"{service}   {stage}   {entry.state}   {_seconds(entry)}".rstrip()
            if self._shown.get((service, stage)) != line:
                self._shown[(service, stage)] = line
                click.echo(line)
