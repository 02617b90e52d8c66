"""`shipline demo`: real components, the sample monorepo, one push, the pipeline, a table."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from services.common.run_models import RunDetail
from services.demo.environments import print_summary, wait_for_promotion
from services.demo.microbank import ENVIRONMENTS, SOAK_SECONDS
from services.demo.receiver import NotificationReceiver
from services.demo.scenario import (
    NotReady,
    SampleMonorepo,
    send_github_push,
    wait_ready,
    write_server_config,
)
from services.devenv.base_image import ensure_base_image
from services.devenv.private_dockerd import PrivateDockerd
from services.devenv.registry import Registry

FINAL = ("succeeded", "failed", "blocked", "skipped")
STAGES = ("detector", "builder", "scanner", "committer")
console = Console()


def run_demo(workdir: Path, port: int, environments: bool = False) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    console.print("[bold]Shipline demo[/]: starting a Docker engine, a registry and Redis…")
    engine = PrivateDockerd.ensure(workdir / "docker")
    client = engine.client()
    base = ensure_base_image(client)
    client.close()
    with Registry(workdir / "registry") as registry, NotificationReceiver() as receiver:
        sample = SampleMonorepo(workdir / f"run-{int(time.time())}")
        sample.create(f"{registry.host}/microbank", base, environments)
        console.print(f"sample monorepo [cyan]{sample.name}[/] pushed to {sample.remote}")
        if environments:
            first, then = ENVIRONMENTS
            console.print(
                f"environments: [bold]{first}[/] takes every push; [bold]{then}[/] takes what"
                f" {first} runs by itself, {SOAK_SECONDS} s after (approval: auto)"
            )
        secret = secrets.token_urlsafe(24)
        api_token = secrets.token_urlsafe(24)  # reads need a token, as writes do
        reader = {"Authorization": f"Bearer {api_token}"}
        config = write_server_config(
            workdir / "shipline-server.yaml",
            sample,
            secret,
            receiver.url,
            api_tokens=[api_token],
            # the reconciler's pass starts a soaked promotion: every second, not every 30
            **({"reconciler": {"period_seconds": 1}} if environments else {}),
        )
        api = f"http://127.0.0.1:{port}"
        env = {**os.environ, "SHIPLINE_CONFIG": str(config), "DOCKER_HOST": engine.host}
        env.pop("SHIPLINE_REDIS_URL", None)
        log = (workdir / "shipline.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            try:
                wait_ready(api, server)
            except NotReady as exc:
                raise SystemExit(f"{exc}; see shipline.log in {workdir}") from None
            push = sample.append(
                "user_service/app.txt", "Transfers now show the payee.", "feat(user): show payee"
            )
            console.print(f"pushed commit [cyan]{push.after[:7]}[/] touching user_service/")
            response = send_github_push(api, secret, sample.github_payload(push))
            response.raise_for_status()
            run_id = response.json()["run_id"]
            console.print(f"webhook accepted: run [bold]{run_id}[/]")
            pushed_at = time.time()
            run = _follow(api, run_id, reader)
            _report(api, run, receiver, sample, reader)
            if not environments or run.status != "succeeded":
                return 0 if run.status == "succeeded" else 1
            return _promote(api, reader, sample, run, pushed_at, receiver)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            engine.stop()


def _promote(
    api: str,
    headers: dict[str, str],
    sample: SampleMonorepo,
    staged: RunDetail,
    since: float,
    receiver: NotificationReceiver,
) -> int:
    """Production's automatic promotion of what the push landed in staging, then a summary."""
    first, then = ENVIRONMENTS
    console.print(
        f"\n[bold]{then}[/]: waiting {SOAK_SECONDS} s after {first} has it, then a"
        " promotion of the same image (no rebuild, no API call)…"
    )
    promotion_id = wait_for_promotion(api, headers, next(iter(staged.services)), since)
    console.print(f"promotion run [bold]{promotion_id}[/] started")
    notified = len(receiver.received)
    promoted = _follow(api, promotion_id, headers)
    console.print(f"\npromotion run {promotion_id} [bold]{promoted.status}[/]")
    for body in receiver.received[notified:]:
        text = escape(str(body.get("text", body)))
        console.print(f"\n[bold]Notification received[/] (webhook):\n{text}")
    print_summary(console, api, headers, sample, {first: staged, then: promoted})
    return 0 if promoted.status == "succeeded" else 1


def _follow(api: str, run_id: str, headers: dict[str, str], timeout: float = 600) -> RunDetail:
    deadline = time.monotonic() + timeout
    with Live(console=console, refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            response = httpx.get(f"{api}/api/v1/runs/{run_id}", headers=headers, timeout=5)
            if response.status_code == 200:
                run = RunDetail.model_validate(response.json())
                live.update(_table(run))
                if run.status in FINAL and run.notified_at:
                    return run
            time.sleep(0.5)
    raise SystemExit(f"run {run_id} did not finish within {timeout}s")


def _table(run: RunDetail) -> Table:
    table = Table(title=f"run {run.run_id} — {run.status}")
    table.add_column("service")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    table.add_column("status")
    for name, service in run.services.items():
        cells = []
        for stage in STAGES:
            timing = service.timings.get(stage)
            if timing is not None and timing.seconds is not None:
                cells.append(f"[green]{timing.seconds:.1f}s[/]")
            elif timing is not None and timing.started is not None and service.status not in FINAL:
                cells.append("[yellow]…[/]")
            else:
                cells.append("")
        table.add_row(name, *cells, service.status)
    return table


def _report(
    api: str,
    run: RunDetail,
    receiver: NotificationReceiver,
    sample: SampleMonorepo,
    headers: dict[str, str],
) -> None:
    path = f"/api/v1/runs/{run.run_id}/events"
    events = httpx.get(f"{api}{path}", headers=headers, timeout=5).json()["events"]
    commits = {e["service"]: e for e in events if e["type"] == "ManifestCommitted"}
    console.print(f"\n[bold]Result[/]: run {run.run_id} [bold]{run.status}[/]")
    for name, service in run.services.items():
        console.print(f"  [bold]{name}[/]  {service.status}  {service.reason}")
        rows = [("image", service.image), ("digest", service.digest)]
        if name in commits:
            committed = commits[name]
            head = sample.remote_head(committed["gitops_commit"])
            rows.append(("manifest", committed["manifest_path"]))
            rows.append(("  was", committed["old_image"]))
            rows.append(("  now", committed["new_image"]))
            rows.append(("gitops commit", f"{head.hexsha[:7]} {head.message.splitlines()[0]}"))
        for label, value in rows:
            console.print(f"    {label:<14} {escape(str(value))}", soft_wrap=True)
    console.print("  events: " + " → ".join(e["type"] for e in events), soft_wrap=True)
    for body in receiver.received:
        text = escape(str(body.get("text", body)))
        console.print(f"\n[bold]Notification received[/] (webhook):\n{text}")
