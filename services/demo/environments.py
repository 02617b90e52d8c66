"""`shipline demo --environments`: after the push lands in staging, production takes the
same image by itself (`approval: auto`, a short soak); then what runs where, and the two
gitops commits with their trailers."""

from __future__ import annotations

import time

import git
import httpx
from rich.console import Console
from rich.markup import escape

from services.cli.views import columns, environment_cell, environment_names
from services.common.run_models import RunDetail
from services.common.service_table import ServicesTable
from services.demo.scenario import SampleMonorepo


def wait_for_promotion(
    api: str, headers: dict[str, str], service: str, after: float, timeout: float = 120
) -> str:
    """The id of the first promotion run of `service` created at or after `after`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{api}/api/v1/runs", params={"service": service}, headers=headers, timeout=5
        )
        if response.status_code == 200:
            for run in response.json()["runs"]:
                if run.get("trigger") == "promotion" and (run.get("created_at") or 0) >= after:
                    return str(run["run_id"])
        time.sleep(0.5)
    raise SystemExit(f"no promotion of {service} started within {timeout}s")


def where_table(table: ServicesTable) -> str:
    """A row per service, a column per environment: the image's tag and its state."""
    names = environment_names(table.services)
    rows = [
        [row.service, *[environment_cell(row, name) for name in names]] for row in table.services
    ]
    return columns(["SERVICE", *[name.upper() for name in names]], rows)


def trailer_lines(sample: SampleMonorepo, commit: str) -> list[str]:
    """The `Key: value` trailers of `commit` on the sample's remote, as git parses them."""
    with git.Repo(sample.remote) as repo:
        return [f"{key}: {value}" for key, value in repo.commit(commit).trailers_list]


def print_summary(
    console: Console,
    api: str,
    headers: dict[str, str],
    sample: SampleMonorepo,
    runs: dict[str, RunDetail],
) -> None:
    """What runs where (GET /api/v1/services), then each environment's gitops commit of the
    services its run wrote (`runs`: environment → its run), subject and trailers."""
    answer = httpx.get(f"{api}/api/v1/services", headers=headers, timeout=10)
    answer.raise_for_status()
    table = ServicesTable.model_validate(answer.json())
    console.print("\n[bold]What runs where[/] (GET /api/v1/services, as `shipline status`):")
    console.print(escape(where_table(table)), soft_wrap=True, highlight=False)
    console.print("\n[bold]Gitops commits[/] (what was written where, and why):")
    for environment, run in runs.items():
        for name, service in run.services.items():
            if not service.gitops_commit:
                continue
            commit = sample.remote_head(service.gitops_commit)
            subject = commit.message.splitlines()[0]
            console.print(
                f"  {environment:<11} {commit.hexsha[:7]} {escape(subject)}",
                soft_wrap=True,
                highlight=False,
            )
            console.print(f"    {name} → {escape(str(service.image))}", soft_wrap=True)
            for line in trailer_lines(sample, commit.hexsha):
                console.print(f"    {escape(line)}", soft_wrap=True, highlight=False)
