"""`shipline validate`: a shipline.yaml checked against the working tree beside it, before it
is pushed (services/common/project_checks.py; the detector runs the same checks on the
pushed commit). Needs no server: no settings, no Redis."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from services.common.project import PROJECT_FILE, Project, read_project
from services.common.project_checks import manifests_here, problems_in_text
from services.common.project_trees import WorkingTree


@click.command()
@click.argument("file", default=PROJECT_FILE, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--repository",
    default=None,
    metavar="OWNER/NAME",
    help="This repository's configured name: its manifests are checked even when "
    "gitops.repository names it.",
)
def validate(file: Path, repository: str | None) -> None:
    """Check a shipline.yaml (default ./shipline.yaml) against the repository it sits in:
    one line per problem and exit status 1, or one line saying it is fine."""
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot read it ({exc.strerror})") from None
    root = file.resolve().parent  # shipline.yaml lives at the repository's root
    label = str(file)
    problems = problems_in_text(text, WorkingTree(root), label, repository)
    for problem in problems:
        click.echo(problem.line())
    if problems:
        sys.exit(1)
    project = read_project(text)
    assert isinstance(project, Project)
    count = len(project.services)
    note = ""
    if not manifests_here(project, repository):
        note = f"; manifests are in {project.gitops.repository}, not checked here"
    click.echo(f"{label}: OK ({count} service{'s' * (count != 1)}{note})")
