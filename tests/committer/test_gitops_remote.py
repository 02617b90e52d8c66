"""Manifests in a separate gitops repository, reached with a token over https-style smart
HTTP and with a key over ssh; the credentials never show in logs, errors or events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import git
import pytest
import redis
from structlog.testing import capture_logs

from services.committer.writeback import GitopsWriter
from services.common.errors import ShiplineError
from services.common.events import ManifestCommitted
from services.common.repository_settings import GitCredentials, GitopsRepository
from services.devenv.git_servers import GitHttpServer, SshGitServer
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    deployment,
    scan_passed,
    settings_for,
    shipline_yaml,
)

TOKEN = "ghp_TEST-token-0123456789abcdef"


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Repo, Repo]:
    app = Repo(tmp_path / "remotes", "acme/app")
    app.commit(
        {
            "shipline.yaml": shipline_yaml(
                {"api": {"path": "api/", "manifest": "apps/api/deployment.yaml"}},
                gitops={"repository": "acme/gitops", "branch": "production"},
            ),
            "api/app.txt": "api\n",
        },
        "initial",
    )
    gitops = Repo(tmp_path / "remotes", "acme/gitops")
    gitops.commit({"apps/api/deployment.yaml": deployment("api", f"{REGISTRY}/api:1")}, "init")
    gitops.clone.git.push("origin", "HEAD:refs/heads/production")
    gitops.clone.close()
    return app, gitops


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    server = GitHttpServer(tmp_path / "remotes", "x-access-token", TOKEN).start()
    yield server
    server.stop()


def deploy_via(
    app: Repo, url: str, credentials: GitCredentials, workdir: Path, client: redis.Redis
) -> ManifestCommitted:
    settings = settings_for(
        workdir,
        app,
        gitops_repositories=[
            GitopsRepository(name="acme/gitops", url=url, credentials=credentials)
        ],
    )
    outcome = GitopsWriter.connect(settings, client).deploy(
        scan_passed(app, "api", app.log()[0].hexsha, "run-1")
    )
    assert isinstance(outcome, ManifestCommitted)
    return outcome


def production_image(gitops: Repo) -> str:
    return gitops.read("apps/api/deployment.yaml", rev="production")


def test_a_token_reaches_a_separate_gitops_repository_and_branch_without_showing_up(
    repos: tuple[Repo, Repo], http_server: GitHttpServer, tmp_path: Path, redis_client: redis.Redis
) -> None:
    app, gitops = repos
    url = f"{http_server.url}/{gitops.bare.name}"

    with capture_logs() as logs:
        committed = deploy_via(app, url, GitCredentials(token=TOKEN), tmp_path / "w", redis_client)

    assert (committed.gitops_repository, committed.branch) == ("acme/gitops", "production")
    assert f"image: {REGISTRY}/api:sha-{app.log()[0].hexsha[:7]}" in production_image(gitops)
    assert len(app.log()) == 1, "nothing is committed to the source repository"
    assert TOKEN not in repr(logs) and TOKEN not in committed.model_dump_json()
    checkout_config = next((tmp_path / "w" / "gitops").glob("*/.git/config")).read_text()
    assert TOKEN not in checkout_config and "Authorization" not in checkout_config


def test_a_wrong_token_fails_with_an_error_that_does_not_echo_it(
    repos: tuple[Repo, Repo], http_server: GitHttpServer, tmp_path: Path, redis_client: redis.Redis
) -> None:
    app, gitops = repos
    url = f"{http_server.url}/{gitops.bare.name}"
    wrong = "ghp_WRONG-token-9876543210"

    with capture_logs() as logs, pytest.raises(ShiplineError) as failure:
        deploy_via(app, url, GitCredentials(token=wrong), tmp_path / "w", redis_client)

    assert wrong not in str(failure.value) and wrong not in repr(logs)
    assert "sync of" in str(failure.value)


@pytest.fixture
def ssh_server(tmp_path: Path) -> Iterator[SshGitServer]:
    server = SshGitServer(tmp_path / "sshd").start()
    yield server
    server.stop()


def test_an_ssh_key_from_the_settings_reaches_the_gitops_repository(
    repos: tuple[Repo, Repo], ssh_server: SshGitServer, tmp_path: Path, redis_client: redis.Redis
) -> None:
    app, gitops = repos
    credentials = GitCredentials(ssh_key=ssh_server.private_key)

    with capture_logs() as logs:
        deploy_via(app, ssh_server.url(gitops.bare), credentials, tmp_path / "w", redis_client)

    assert f"image: {REGISTRY}/api:sha-" in production_image(gitops)
    assert "PRIVATE KEY" not in repr(logs)
    key_files = list((tmp_path / "w" / "keys").glob("*.key"))
    assert [oct(f.stat().st_mode & 0o777) for f in key_files] == ["0o600"]


def test_without_the_key_ssh_is_refused_at_once(
    repos: tuple[Repo, Repo], ssh_server: SshGitServer, tmp_path: Path, redis_client: redis.Redis
) -> None:
    app, gitops = repos
    other_key = tmp_path / "other"
    git.Git().execute(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)])

    with pytest.raises(ShiplineError, match="sync of"):
        deploy_via(
            app,
            ssh_server.url(gitops.bare),
            GitCredentials(ssh_key_file=other_key),
            tmp_path / "w",
            redis_client,
        )
