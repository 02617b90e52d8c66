"""`shipline doctor` against the real components of the test session: all green on a
working configuration, and each kind of breakage is one failed line, with what to do, and
a non-zero exit."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import git
import httpx
import pytest
import redis
import yaml
from click.testing import CliRunner, Result

from services.cli import main
from services.devenv.git_servers import GitHttpServer
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from tests.committer.gitrepos import Repo, deployment, monorepo
from tests.conftest import AUTH_PASSWORD, AUTH_USERNAME

TOKEN = "doctor-git-token-0123456789abcdef"
# the images' namespace in the session's registry, which other tests push to (shop/cart…)
NAMESPACE = f"doctor-{uuid.uuid4().hex[:8]}"
CHECK_LINE = re.compile(r"^(ok|WARN|FAIL)\s+(.+?)\s{2,}(.*)$")


def fresh_trivy_db(cache_dir: Path) -> Path:
    """A prepared vulnerability DB (its metadata: the real one cannot be downloaded here)."""
    (cache_dir / "db").mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    metadata = {"Version": 2, "NextUpdate": today, "UpdatedAt": today, "DownloadedAt": today}
    (cache_dir / "db" / "metadata.json").write_text(json.dumps(metadata))
    return cache_dir


@pytest.fixture
def git_host(tmp_path: Path) -> Iterator[GitHttpServer]:
    server = GitHttpServer(tmp_path / "served", "x-access-token", TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def deploy_repo(tmp_path: Path, git_host: GitHttpServer) -> Repo:
    """A gitops repository on a git host that wants a token."""
    repo = Repo(tmp_path / "served", "acme/deploy")
    repo.commit({"apps/cart.yaml": deployment("cart", "r/cart:1")}, "init")
    return repo


@pytest.fixture
def config(
    tmp_path: Path,
    redis_url: str,
    auth_registry: Registry,
    trivy_path: Path,
    git_host: GitHttpServer,
    deploy_repo: Repo,
) -> dict[str, Any]:
    """A configuration whose every part works: Redis, the engine, a registry with htpasswd
    credentials, Trivy with a vulnerability DB, a repository, a gitops repository behind a
    token."""
    shop = monorepo(
        tmp_path / "remotes", ["cart", "web"], registry=f"{auth_registry.host}/{NAMESPACE}"
    )
    shop.commit({f"{s}/Dockerfile": "FROM scratch\nCOPY app.txt /\n" for s in ("cart", "web")}, "+")
    return {
        "redis_url": redis_url,
        "workdir": str(tmp_path / "state"),
        "repositories": [{"name": shop.name, "url": shop.url, "webhook_secret": "w" * 24}],
        "gitops_repositories": [
            {
                "name": deploy_repo.name,
                "url": f"{git_host.url}/acme-deploy.git",
                "credentials": {"token": TOKEN},
            }
        ],
        "registry_auth": {
            auth_registry.host: {"username": AUTH_USERNAME, "password": AUTH_PASSWORD}
        },
        "scanner": {
            "trivy_path": str(trivy_path),
            "scanners": ["vuln", "secret"],
            "cache_dir": str(fresh_trivy_db(tmp_path / "trivy-cache")),
        },
    }


def doctor(config: dict[str, Any], tmp_path: Path, docker_host: str, *args: str) -> Result:
    path = tmp_path / "server.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"SHIPLINE_CONFIG": str(path), "DOCKER_HOST": docker_host}
    return CliRunner().invoke(main, ["doctor", *args], env=env)


def checked(result: Result) -> list[str]:
    """The names of the checks, in the order printed (the summary line left out)."""
    return [CHECK_LINE.match(text)[2] for text in result.output.splitlines()[:-1]]  # type: ignore[index]


def line(result: Result, name: str) -> str:
    """The output line of one check (status, name, detail, what to do), spaces squeezed."""
    for text in result.output.splitlines():
        match = CHECK_LINE.match(text)
        if match and match[2] == name:
            return f"{match[1]}  {name}  {match[3]}"
    raise AssertionError(f"no line for {name!r} in:\n{result.output}")


def test_a_working_configuration_is_all_green_and_exits_0(
    config: dict[str, Any], tmp_path: Path, docker_host: str, auth_registry: Registry
) -> None:
    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 0, result.output
    assert checked(result) == [
        "redis",
        "redis version",
        "intake script",
        "docker engine",
        "buildkit",
        f"registry {auth_registry.host}",
        f"registry {auth_registry.host} push",
        "trivy",
        "trivy db",
        "repository acme/shop",
        "gitops acme/shop@main",
        "gitops acme/deploy@main",
        "shipline.yaml acme/shop@main",
    ]
    assert all(text.startswith("ok ") for text in result.output.splitlines()[:-1]), result.output
    assert result.output.splitlines()[-1] == "ready: 0 failed, 0 warnings, 13 ok"
    cart, web = f"{NAMESPACE}/cart", f"{NAMESPACE}/web"
    assert f"push allowed to 2 repositories ({cart}, {web})" in line(
        result, f"registry {auth_registry.host} push"
    )
    assert "2 services, images in" in line(result, "shipline.yaml acme/shop@main")
    # the push probe's upload sessions were cancelled: nothing landed in the registry
    catalog = httpx.get(f"{auth_registry.url}/v2/_catalog", auth=auth_registry.auth, timeout=5)
    assert cart not in catalog.json()["repositories"]
    assert auth_registry.tags(cart) == []


def test_json_output_parses_and_names_every_check(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    result = doctor(config, tmp_path, docker_host, "-o", "json")

    answer = json.loads(result.output)
    assert answer["status"] == "ok"
    redis_check = next(check for check in answer["checks"] if check["name"] == "redis")
    assert redis_check["status"] == "ok" and redis_check["fix"] is None


def test_a_redis_url_on_a_closed_port_fails_the_redis_line_without_its_password(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    config["redis_url"] = "redis://:not-the-password-0123456789@127.0.0.1:1/0"

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    assert line(result, "redis").startswith("FAIL  redis  redis://***@127.0.0.1:1/0: ")
    assert "-> start Redis or correct redis_url" in line(result, "redis")
    assert "not-the-password" not in result.output


def test_a_redis_user_without_scripting_fails_the_intake_script_line(
    config: dict[str, Any], tmp_path: Path, docker_host: str, redis_server: RedisServer
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser(
        "doctor-noscript", enabled=True, passwords=["+noscript-pass-0123456789"],
        keys=["*"], channels=["*"], commands=["+@all", "-@scripting"],
    )  # fmt: skip
    config["redis_url"] = (
        f"redis://doctor-noscript:noscript-pass-0123456789@127.0.0.1:{redis_server.port}/0"
    )
    try:
        result = doctor(config, tmp_path, docker_host)
    finally:
        admin.acl_deluser("doctor-noscript")
        admin.close()

    assert result.exit_code == 1
    assert line(result, "redis").startswith("ok ")
    assert line(result, "intake script").startswith("FAIL  intake script  start_run.lua does not")
    assert "ACL +@scripting" in line(result, "intake script")


def test_without_a_redis_url_the_embedded_server_shipline_up_would_start_is_checked(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    del config["redis_url"]

    result = doctor(config, tmp_path, docker_host)

    assert "`shipline up` starts" in line(result, "redis (embedded)")
    assert line(result, "intake script").startswith("ok ")
    assert result.exit_code == 0, result.output


def test_a_registry_that_refuses_the_credentials_fails_its_line(
    config: dict[str, Any], tmp_path: Path, docker_host: str, auth_registry: Registry
) -> None:
    config["registry_auth"][auth_registry.host]["password"] = "wrong-password-0123456789"

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    text = line(result, f"registry {auth_registry.host}")
    assert text.startswith("FAIL ")
    assert "refused the credentials (HTTP 401)" in text
    assert f"-> check the username and password of registry_auth['{auth_registry.host}']" in text
    assert "wrong-password" not in result.output


def test_a_registry_without_credentials_is_tried_anonymously(
    config: dict[str, Any], tmp_path: Path, docker_host: str, auth_registry: Registry
) -> None:
    del config["registry_auth"]

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    assert "requires credentials (HTTP 401); none are configured" in line(
        result, f"registry {auth_registry.host}"
    )


def test_a_repository_url_that_does_not_exist_fails_its_line(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    config["repositories"][0]["url"] = f"file://{tmp_path}/no-such-repository.git"

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    text = line(result, "repository acme/shop")
    assert text.startswith("FAIL  repository acme/shop  cannot read file://")
    assert "-> check repositories[acme/shop].url" in text


def test_a_gitops_host_that_refuses_pushes_fails_its_line(
    config: dict[str, Any], tmp_path: Path, docker_host: str, deploy_repo: Repo
) -> None:
    with git.Repo(deploy_repo.bare) as bare, bare.config_writer() as writer:
        writer.set_value("http", "receivepack", "false")  # the host: read-only for this token

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    text = line(result, "gitops acme/deploy@main")
    assert text.startswith("FAIL  gitops acme/deploy@main  push to http://127.0.0.1:")
    assert "403" in text
    assert "-> give gitops_repositories[acme/deploy].credentials write access" in text
    assert TOKEN not in result.output


def test_a_gitops_token_the_host_refuses_fails_its_line_without_the_token(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    config["gitops_repositories"][0]["credentials"]["token"] = "wrong-token-0123456789"

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    assert "-> check gitops_repositories[acme/deploy].credentials" in line(
        result, "gitops acme/deploy"
    )
    assert "wrong-token" not in result.output


def test_a_missing_vulnerability_db_fails_the_trivy_db_line_with_how_to_prepare_it(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    config["scanner"]["cache_dir"] = str(tmp_path / "empty-cache")

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    text = line(result, "trivy db")
    assert "no vulnerability DB" in text
    assert f"trivy image --download-db-only --cache-dir {tmp_path / 'empty-cache'}" in text


def test_a_vulnerability_db_twelve_days_old_warns_with_its_age_and_mirror_and_exits_0(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    cache = tmp_path / "old-cache"
    (cache / "db").mkdir(parents=True)
    built = datetime.now(UTC) - timedelta(days=12, hours=2)
    stamp = built.strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {"Version": 2, "NextUpdate": stamp, "UpdatedAt": stamp, "DownloadedAt": stamp}
    (cache / "db" / "metadata.json").write_text(json.dumps(metadata))
    mirror = "registry.lan:5000/aquasec/trivy-db:2"
    config["scanner"].update(cache_dir=str(cache), db_repository=mirror)

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 0, result.output
    assert line(result, "trivy db").startswith(
        f"WARN  trivy db  the DB in {cache} is from {built:%Y-%m-%d} (12 days, mirror {mirror}): "
    )
    assert "-> refresh it (shipline scanner fetch-db on a schedule" in line(result, "trivy db")


def test_no_docker_engine_fails_its_line(config: dict[str, Any], tmp_path: Path) -> None:
    result = doctor(config, tmp_path, f"unix://{tmp_path}/no-docker.sock")

    assert result.exit_code == 1
    assert "-> start the Docker engine, or point DOCKER_HOST at it" in line(result, "docker engine")


def test_a_shipline_yaml_that_does_not_parse_at_the_default_branch_fails_its_line(
    config: dict[str, Any], tmp_path: Path, docker_host: str
) -> None:
    shop = Repo(tmp_path / "remotes", "acme/broken")
    shop.commit(
        {"shipline.yaml": "registry: r.example/shop\nservices:\n  cart: {pth: cart/}\n"}, "x"
    )
    config["repositories"] = [{"name": shop.name, "url": shop.url, "webhook_secret": "w" * 24}]

    result = doctor(config, tmp_path, docker_host)

    assert result.exit_code == 1
    text = line(result, "shipline.yaml acme/broken@main")
    assert text.startswith("FAIL ")
    assert "services.cart" in text
