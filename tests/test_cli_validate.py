"""`shipline validate`: the installed command, run as a user runs it (a process, in the
repository's folder, no server configuration), and as a pre-commit hook would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.common.test_project_checks import GOOD, LAYOUT, make_repo

pytestmark = pytest.mark.integration  # the installed `shipline`, run on a git repository

SHIPLINE = Path(sys.executable).parent / "shipline"


def shipline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command without any server setting: no SHIPLINE_CONFIG, no Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_")}
    return subprocess.run(
        [str(SHIPLINE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_valid_shipline_yaml_is_one_ok_line_and_exit_0(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "shipline.yaml": GOOD})

    result = shipline("validate", cwd=repo)

    assert (result.returncode, result.stdout) == (0, "shipline.yaml: OK (2 services)\n")
    assert result.stderr == ""


def test_a_misspelt_path_and_a_typod_key_are_one_line_each_and_exit_1(tmp_path: Path) -> None:
    broken = GOOD.replace("path: src/user", "path: src/usr").replace(
        "    path: src/web/\n", "    path: src/web/\n    dockerfil: src/web/Dockerfile\n"
    )
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "shipline.yaml": broken})

    schema = shipline("validate", cwd=repo)
    fixed_key = broken.replace("dockerfil:", "dockerfile:")
    (repo / "shipline.yaml").write_text(fixed_key)
    tree = shipline("validate", cwd=repo)

    assert schema.returncode == 1
    assert schema.stdout == (
        "shipline.yaml: services.web.dockerfil: Extra inputs are not permitted; "
        "did you mean 'dockerfile'?\n"
    )
    assert tree.returncode == 1
    assert tree.stdout == (
        "shipline.yaml: services.user.path: 'src/usr' does not exist; did you mean 'src/user'?\n"
    )


def test_a_file_named_on_the_command_line_is_checked_against_its_own_folder(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "shipline.yaml": GOOD})

    result = shipline("validate", str(repo / "shipline.yaml"), cwd=tmp_path)

    assert result.returncode == 0, result.stdout
    assert result.stdout == f"{repo / 'shipline.yaml'}: OK (2 services)\n"


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = shipline("validate", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("Error: shipline.yaml: cannot read it")
    assert "Traceback" not in result.stderr


def test_manifests_in_another_gitops_repository_are_said_to_be_unchecked(tmp_path: Path) -> None:
    config = "gitops: {repository: acme/deploy}\n" + GOOD
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "shipline.yaml": config})

    result = shipline("validate", cwd=repo)

    assert result.stdout == (
        "shipline.yaml: OK (2 services; manifests are in acme/deploy, not checked here)\n"
    )


def test_the_documented_pre_commit_hook_refuses_a_commit_with_a_broken_shipline_yaml(
    tmp_path: Path,
) -> None:
    """The local hook of docs/cli.md, run the way git runs it: a failing hook stops the commit."""
    repo = make_repo(tmp_path / "repo", {**LAYOUT, "shipline.yaml": GOOD})
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nexec {SHIPLINE} validate\n")
    hook.chmod(0o755)
    (repo / "shipline.yaml").write_text(GOOD.replace("src/web/", "src/wbe/"))
    subprocess.run(["git", "-C", str(repo), "add", "shipline.yaml"], check=True)

    commit = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=d", "-c", "user.email=d@example.com"]
        + ["commit", "-m", "typo"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_")},
    )

    assert commit.returncode == 1
    assert "services.web.path: 'src/wbe/' does not exist; did you mean 'src/web/'?" in (
        commit.stdout + commit.stderr
    )
