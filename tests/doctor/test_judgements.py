"""What each check's facts mean: pure, no component needed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.settings import ScannerSettings
from services.doctor.docker_check import EngineFacts, judge_engine
from services.doctor.git_check import RemoteFacts, judge_push, judge_read
from services.doctor.project_check import ProjectFacts, judge_project
from services.doctor.redis_check import RedisFacts, judge_redis, version_problem
from services.doctor.registry_check import RegistryFacts, judge_registry
from services.doctor.trivy_check import TrivyFacts, judge_trivy

NOW = datetime(2026, 12, 6, tzinfo=UTC)
CACHE = Path("/var/cache/trivy")


@pytest.mark.parametrize(
    ("info", "supported"),
    [
        ({"redis_version": "6.2.6"}, True),
        ({"redis_version": "7.0.15"}, True),
        ({"redis_version": "6.0.16"}, False),
        ({"redis_version": "5.0.7"}, False),
        ({"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "8.0.1"}, True),
        ({"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "7.2.5"}, True),
        ({"redis_version": "unstable"}, False),
    ],
)
def test_redis_6_2_and_valkey_7_2_or_later_are_supported(
    info: dict[str, str], supported: bool
) -> None:
    assert (version_problem(info) is None) is supported


def test_an_old_redis_fails_its_version_line_with_the_supported_versions() -> None:
    facts = RedisFacts("redis://***@db:6379/0", info={"redis_version": "6.0.16"})

    version = next(r for r in judge_redis(facts) if r.name == "redis version")

    assert version.status == "fail"
    assert "Redis 6.0.16 is too old" in version.detail
    assert version.fix == "upgrade to Redis >= 6.2 or Valkey >= 7.2"


def test_an_intake_script_refused_by_an_acl_says_to_grant_scripting() -> None:
    facts = RedisFacts(
        "redis://***@db:6379/0",
        info={"redis_version": "7.0.15"},
        script_error="NoPermissionError: User x has no permissions to run 'script|load'",
    )

    intake = next(r for r in judge_redis(facts) if r.name == "intake script")

    assert intake.status == "fail"
    assert "ACL +@scripting" in (intake.fix or "")


def test_an_unreachable_redis_is_one_failed_line_saying_how_to_get_one() -> None:
    [line] = judge_redis(RedisFacts("redis://***@db:6379/0", unreachable="ConnectionError"))

    assert (line.name, line.status) == ("redis", "fail")
    assert "leave it unset and `shipline up` embeds one" in (line.fix or "")


def test_the_embedded_redis_says_shipline_up_starts_it() -> None:
    facts = RedisFacts("embedded", info={"redis_version": "7.2.4", "valkey_version": "9.1.2"})

    first = judge_redis(facts, embedded_binary="/venv/valkey-server")[0]

    assert first.name == "redis (embedded)"
    assert first.detail == "Valkey 9.1.2, `shipline up` starts /venv/valkey-server"


@pytest.mark.parametrize(
    ("version", "buildkit"),
    [
        ({"Version": "20.10.24", "ApiVersion": "1.41", "Os": "linux"}, "ok"),
        ({"Version": "18.06", "ApiVersion": "1.38", "Os": "linux"}, "warn"),
        ({"Version": "20.10", "ApiVersion": "1.41", "Os": "windows"}, "warn"),
    ],
)
def test_buildkit_is_there_on_a_linux_engine_with_api_1_39(
    version: dict[str, str], buildkit: str
) -> None:
    results = judge_engine(EngineFacts("unix:///run/docker.sock", version=version), "buildkit")

    assert [(r.name, r.status) for r in results] == [
        ("docker engine", "ok"),
        ("buildkit", buildkit),
    ]


def test_an_engine_that_refuses_this_user_says_to_grant_access() -> None:
    facts = EngineFacts("unix:///run/docker.sock", error="ConnectionError: Permission denied")

    [line] = judge_engine(facts, "buildkit")

    assert line.status == "fail"
    assert line.fix == "give this user access to unix:///run/docker.sock (e.g. the docker group)"


@pytest.mark.parametrize(
    ("facts", "status", "words"),
    [
        (RegistryFacts("r:5000", True, base_status=200), "ok", "credentials accepted"),
        (RegistryFacts("r:5000", False, base_status=200), "ok", "anonymous access"),
        (RegistryFacts("r:5000", True, base_status=401), "fail", "refused the credentials"),
        (RegistryFacts("r:5000", False, base_status=401), "fail", "none are configured"),
        (RegistryFacts("r:5000", False, base_status=404), "fail", "not a registry API"),
        (RegistryFacts("r:5000", True, unreachable="ConnectError"), "fail", "ConnectError"),
    ],
)
def test_a_registry_line_says_whether_it_answers_and_takes_the_credentials(
    facts: RegistryFacts, status: str, words: str
) -> None:
    line = judge_registry(facts)[0]

    assert (line.name, line.status) == ("registry r:5000", status)
    assert words in line.detail


@pytest.mark.parametrize(
    ("answer", "status", "words"),
    [
        (202, "ok", "push allowed to 2 repositories"),
        (403, "fail", "push to shop/api refused (HTTP 403)"),
        (404, "fail", "repository shop/api does not exist"),
        ("TransientError: registry r:5000 unreachable", "warn", "not confirmed"),
    ],
)
def test_a_registry_push_line_names_the_repository_it_may_not_push_to(
    answer: int | str, status: str, words: str
) -> None:
    facts = RegistryFacts(
        "r:5000", True, base_status=200, push={"shop/api": answer, "shop/web": 202}
    )

    push = judge_registry(facts, ["shop/api", "shop/web"])[1]

    assert (push.name, push.status) == ("registry r:5000 push", status)
    assert words in push.detail


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        ("fatal: Authentication failed for 'https://git.acme.dev/shop.git/'", "credentials"),
        (
            "fatal: unable to access 'http://h/x.git/': The requested URL returned error: 403",
            "credentials",
        ),
        ("git@github.com: Permission denied (publickey).", "credentials"),
        ("fatal: '/srv/none.git' does not appear to be a git repository", ".url (a private"),
        ("fatal: unable to access 'https://nowhere/': Could not resolve host: nowhere", "host"),
    ],
)
def test_a_repository_that_cannot_be_read_says_what_to_correct(error: str, fix: str) -> None:
    line = judge_read(
        "repository acme/shop",
        RemoteFacts("u", "main", read_error=error),
        "repositories[acme/shop]",
    )

    assert line.status == "fail"
    assert fix in (line.fix or "")
    assert (line.fix or "").startswith("check repositories[acme/shop]")


def test_a_missing_default_branch_is_named() -> None:
    line = judge_read("repository acme/shop", RemoteFacts("u", "trunk"), "repositories[acme/shop]")

    assert line.status == "fail"
    assert line.detail == "u has no branch trunk"


def test_a_refused_push_says_to_give_the_credentials_write_access() -> None:
    facts = RemoteFacts("http://h/deploy.git", "main", head="a" * 40, push_error="error: 403")

    line = judge_push("gitops acme/deploy@main", facts, "gitops_repositories[acme/deploy]")

    assert line.status == "fail"
    assert (
        line.fix
        == "give gitops_repositories[acme/deploy].credentials write access to the repository"
    )


def test_a_local_gitops_repository_this_user_cannot_write_fails() -> None:
    facts = RemoteFacts("file:///srv/deploy.git", "main", head="a" * 40, local_writable=False)

    line = judge_push("gitops acme/deploy@main", facts, "repositories[acme/deploy]")

    assert (line.status, line.detail) == (
        "fail",
        "file:///srv/deploy.git is not writable by this user",
    )


def test_a_shipline_yaml_that_does_not_parse_fails_with_its_message() -> None:
    facts = ProjectFacts(error="acme/shop@abc1234:shipline.yaml: services: Field required")

    line = judge_project("shipline.yaml acme/shop@main", facts, "abc1234" + "0" * 33)

    assert line.status == "fail"
    assert line.detail.endswith("services: Field required")
    assert "`shipline validate`" in (line.fix or "")


def _trivy_db(updated: str | None) -> TrivyFacts:
    version: dict[str, object] = {"Version": "0.59.1"}
    if updated:
        version["VulnerabilityDB"] = {"Version": 2, "UpdatedAt": updated}
    return TrivyFacts("/usr/bin/trivy", version=version)


@pytest.mark.parametrize(
    ("scanner", "facts", "status", "words"),
    [
        (ScannerSettings(scanners=["secret"]), _trivy_db(None), "ok", "not needed"),
        (ScannerSettings(scanners=["vuln"]), _trivy_db(None), "fail", "no vulnerability DB"),
        (ScannerSettings(scanners=["vuln"], offline=False), _trivy_db(None), "warn", "first scan"),
        (ScannerSettings(scanners=["vuln"]), _trivy_db("2026-12-05T00:00:00Z"), "ok", "2026-12-05"),
        (ScannerSettings(scanners=["vuln"]), _trivy_db("2026-10-01T00:00:00Z"), "warn", "66 days"),
        (
            ScannerSettings(scanners=["vuln"], server_url="http://trivy:4954"),
            TrivyFacts("/t", version={}, server_status="ConnectError"),
            "fail",
            "does not answer",
        ),
    ],
)
def test_the_trivy_db_line_follows_the_configured_scanners(
    scanner: ScannerSettings, facts: TrivyFacts, status: str, words: str
) -> None:
    db = judge_trivy(facts, scanner, CACHE, NOW)[1]

    assert (db.name, db.status) == ("trivy db", status)
    assert words in db.detail


def test_a_missing_db_says_how_to_prepare_it() -> None:
    db = judge_trivy(_trivy_db(None), ScannerSettings(scanners=["vuln"]), CACHE, NOW)[1]

    assert "trivy image --download-db-only --cache-dir /var/cache/trivy" in (db.fix or "")


def test_no_trivy_is_one_failed_line_saying_what_to_install() -> None:
    [line] = judge_trivy(TrivyFacts(missing="Trivy not found"), ScannerSettings(), CACHE, NOW)

    assert line.status == "fail"
    assert "scanner.trivy_path" in (line.fix or "")
