"""The pushed commit checked against its shipline.yaml before anything is built (real git
mirror): the run fails with `shipline validate`'s lines instead of failing at the build or
skipping silently; and a shipline.yaml change rebuilds only the entries it changed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from services.common import project_trees
from services.common.events import BuildRequested, ChangeDetected
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.project import parse_project
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.detector.changes import TreeChanges
from services.detector.checked import RedisCheckedCommits
from services.detector.detect import Skip
from services.detector.fit import Recheck, ShiplineYamlMismatch, recheck
from services.detector.task import make_handler, pushed_changes
from tests.detector.conftest import (
    BOT,
    BOT_EMAIL,
    LAYOUT,
    NAME,
    SHIPLINE_YAML,
    Monorepo,
    deployment,
)

HEADER = "shipline.yaml does not fit commit {}, nothing was built"


def test_a_service_path_that_does_not_exist_fails_the_push_with_the_validate_line(
    seeded: Monorepo,
) -> None:
    moved = SHIPLINE_YAML.replace("path: user_service/", "path: usr_service/")
    seeded.commit({"shipline.yaml": moved})
    push = seeded.push()

    with pytest.raises(ShiplineYamlMismatch) as raised:
        seeded.detect(push)

    header, *lines = str(raised.value).splitlines()
    assert header.startswith(HEADER.format(push.after[:7]))
    assert lines == [
        "shipline.yaml: services.user-service.path: 'usr_service/' does not exist; "
        "did you mean 'user_service/'?"
    ]


def test_a_change_to_shipline_yaml_is_checked_whole_not_only_the_entries_it_rebuilds(
    seeded: Monorepo,
) -> None:
    edited = SHIPLINE_YAML.replace("dockerfile: web/Dockerfile", "dockerfile: web/Dockerfile.prod")
    edited = edited.replace(
        "depends_on: [libs/common/]\n  account", "depends_on: [libs/comon/]\n  account", 1
    )
    seeded.commit({"shipline.yaml": edited, "web/Dockerfile.prod": "FROM scratch\n"})

    with pytest.raises(ShiplineYamlMismatch) as raised:
        seeded.detect(seeded.push())

    assert str(raised.value).splitlines()[1:] == [
        "shipline.yaml: services.user-service.depends_on.0: 'libs/comon/' does not exist; "
        "did you mean 'libs/common/'?"
    ]


def test_a_push_no_service_watches_fails_when_a_service_path_is_wrong_instead_of_skipping(
    mono: Monorepo,
) -> None:
    wrong = SHIPLINE_YAML.replace("path: account_service/", "path: accounts/")
    mono.commit({**LAYOUT, "shipline.yaml": wrong}, "initial")
    mono.push()
    mono.commit({"account_service/app.txt": "account v2\n"})  # the folder the user meant

    with pytest.raises(ShiplineYamlMismatch, match="services.account-service.path: 'accounts/'"):
        mono.detect(mono.push())


def test_a_push_that_breaks_a_built_services_manifest_fails_before_the_build(
    seeded: Monorepo,
) -> None:
    renamed = deployment("web").replace("- name: web", "- name: frontend")
    seeded.commit({"web/src/index.html": "web v2\n", "k8s/manifests/web/deployment.yaml": renamed})

    with pytest.raises(ShiplineYamlMismatch) as raised:
        seeded.detect(seeded.push())

    assert str(raised.value).splitlines()[1] == (
        "shipline.yaml: services.web.manifest: k8s/manifests/web/deployment.yaml: no container "
        "named 'web'; the file has: 'frontend'; set container: to the container's name "
        "(format: helm for a values file)"
    )


def test_a_forced_build_of_a_service_without_its_dockerfile_fails_before_the_build(
    seeded: Monorepo,
) -> None:
    from services.detector.task import requested_changes

    seeded.commit({"web/Dockerfile": None})
    seeded.push()
    request = BuildRequested(
        run_id="forced", repository=NAME, ref="refs/heads/main", services=("web",)
    )

    with pytest.raises(ShiplineYamlMismatch, match="services.web.dockerfile: 'web/Dockerfile'"):
        requested_changes(request, seeded.mirror, seeded.settings)


# --- what a shipline.yaml change rebuilds ----------------------------------------------------


def test_a_typo_fixed_in_one_services_entry_rebuilds_only_that_service(mono: Monorepo) -> None:
    typo = SHIPLINE_YAML.replace("dockerfile: web/Dockerfile", "dockerfil: web/Dockerfile")
    mono.commit({**LAYOUT, "shipline.yaml": typo}, "initial, with a typo")
    mono.push()  # this one failed: shipline.yaml did not parse

    mono.commit({"shipline.yaml": SHIPLINE_YAML}, "fix the typo")
    built = mono.built(mono.push())

    assert list(built) == ["web"]
    assert built["web"].changed_paths == ("shipline.yaml",)


def test_an_entry_spelt_out_with_its_defaults_rebuilds_nothing(seeded: Monorepo) -> None:
    explicit = SHIPLINE_YAML.replace(
        "    path: user_service/\n",
        "    path: user_service\n    dockerfile: user_service/Dockerfile\n"
        "    context: user_service/\n    container: user-service\n"
        "    manifest: k8s/manifests/user-service/deployment.yaml\n",
    )
    seeded.commit({"shipline.yaml": explicit})

    assert seeded.detect(seeded.push()) == Skip("no service changed")


def test_a_new_build_arg_rebuilds_that_service_and_auto_rollback_rebuilds_nothing(
    seeded: Monorepo,
) -> None:
    with_arg = SHIPLINE_YAML.replace(
        "    path: web/src/\n", "    path: web/src/\n    build_args: {MODE: prod}\n"
    )
    seeded.commit({"shipline.yaml": with_arg})
    assert list(seeded.built(seeded.push())) == ["web"]

    watched = with_arg.replace(
        "    path: user_service/\n", "    path: user_service/\n    auto_rollback: true\n"
    )
    seeded.commit({"shipline.yaml": watched})
    assert seeded.detect(seeded.push()) == Skip("no service changed")


# --- incremental: a push from a commit checked clean --------------------------------------


@pytest.fixture
def records(redis_client: redis.Redis) -> RedisCheckedCommits:
    return RedisCheckedCommits(redis_client)


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The paths of every `git ls-tree` the checks start (CommitTree's listing)."""
    started: list[list[str]] = []
    run = subprocess.run

    def counted(command: list[str], *args: Any, **kwargs: Any) -> Any:
        if "ls-tree" in command:
            started.append(command[command.index("--end-of-options") + 2 :])
        return run(command, *args, **kwargs)

    monkeypatch.setattr(project_trees.subprocess, "run", counted)
    return started


def detect(mono: Monorepo, records: RedisCheckedCommits) -> list[ChangeDetected] | Skip:
    """Commit nothing; detect the push of what was committed, with the records in Redis."""
    return pushed_changes(mono.push(), mono.mirror, mono.settings, BOT_EMAIL, records=records)


@pytest.fixture
def clean(seeded: Monorepo, records: RedisCheckedCommits, listings: list[list[str]]) -> Monorepo:
    """A repository whose last pushed commit was checked whole and recorded clean."""
    seeded.commit({"libs/common/lib.sh": "common v2\n"})
    assert isinstance(detect(seeded, records), list)
    assert listings, "the first push is checked whole"
    listings.clear()
    return seeded


def recorded(client: redis.Redis, commit: str) -> bool:
    return bool(client.exists(DEFAULT_KEYSPACE.project_checked(NAME, commit)))


def test_a_steady_push_runs_no_listing_and_records_its_commit_clean(
    clean: Monorepo, records: RedisCheckedCommits, listings: list[list[str]], redis_client
) -> None:
    after = clean.commit({"web/src/index.html": "web v2\n", "user_service/app.txt": "v2\n"})

    built = detect(clean, records)

    assert sorted(change.service for change in built) == ["user-service", "web"]
    assert listings == []
    assert recorded(redis_client, after)


def test_deleting_a_services_dockerfile_in_an_ordinary_push_fails_with_the_validate_line(
    clean: Monorepo, records: RedisCheckedCommits, listings: list[list[str]], redis_client
) -> None:
    after = clean.commit({"user_service/Dockerfile": None, "web/src/index.html": "web v2\n"})

    with pytest.raises(ShiplineYamlMismatch) as raised:
        detect(clean, records)

    assert str(raised.value).splitlines()[1:] == [
        "shipline.yaml: services.user-service.dockerfile: no Dockerfile at "
        "'user_service/Dockerfile' (the default without dockerfile:); add it, or set "
        "dockerfile: to the Dockerfile's path"
    ]
    listed = {path for listing in listings for path in listing}
    assert "user_service/Dockerfile" in listed
    assert not listed & {"web/src", "account_service", "web/Dockerfile"}  # only what it touched
    assert not recorded(redis_client, after)


def test_deleting_every_file_under_a_services_path_fails_the_push(
    clean: Monorepo, records: RedisCheckedCommits
) -> None:
    clean.commit({"web/src/index.html": None})

    with pytest.raises(ShiplineYamlMismatch) as raised:
        detect(clean, records)

    assert str(raised.value).splitlines()[1:] == [
        "shipline.yaml: services.web.path: 'web/src/' does not exist; "
        "correct it to the service's folder"
    ]


def test_a_push_after_a_failed_check_is_checked_whole_and_still_reports_the_wrong_path(
    clean: Monorepo, records: RedisCheckedCommits, listings: list[list[str]]
) -> None:
    clean.commit({"web/src/index.html": None})
    with pytest.raises(ShiplineYamlMismatch):
        detect(clean, records)
    listings.clear()
    clean.commit({"tools/release.sh": "echo\n"})  # no service watches it

    with pytest.raises(ShiplineYamlMismatch) as raised:
        detect(clean, records)

    assert str(raised.value).splitlines()[1:] == [
        "shipline.yaml: services.web.path: 'web/src/' does not exist; "
        "correct it to the service's folder"
    ]
    listed = {path for listing in listings for path in listing}
    assert {"account_service", "libs/common", "package-lock.json"} <= listed  # all of it


def test_a_push_no_service_watches_from_a_clean_commit_skips_without_a_listing(
    clean: Monorepo, records: RedisCheckedCommits, listings: list[list[str]], redis_client
) -> None:
    after = clean.commit({"tools/release.sh": "echo\n"})

    assert detect(clean, records) == Skip("no service changed")
    assert listings == []
    assert recorded(redis_client, after)


def test_a_steady_push_that_breaks_a_built_services_manifest_fails_before_the_build(
    clean: Monorepo, records: RedisCheckedCommits
) -> None:
    renamed = deployment("web").replace("- name: web", "- name: frontend")
    clean.commit({"web/src/index.html": "web v2\n", "k8s/manifests/web/deployment.yaml": renamed})

    with pytest.raises(ShiplineYamlMismatch, match="services.web.manifest: .*'frontend'"):
        detect(clean, records)


def test_the_pipelines_own_commit_keeps_the_record_for_the_next_push(
    clean: Monorepo, records: RedisCheckedCommits, listings: list[list[str]], redis_client
) -> None:
    deployed = deployment("web", "127.0.0.1:5000/acme/web:sha-1")
    bot = clean.commit({"k8s/manifests/web/deployment.yaml": deployed}, "deploy web", BOT)
    assert detect(clean, records) == Skip("only pipeline or [skip ci] commits")
    assert recorded(redis_client, bot)
    assert "account_service" not in {path for listing in listings for path in listing}
    listings.clear()

    clean.commit({"web/src/index.html": "web v2\n"})

    assert list(detect(clean, records)) != []
    assert listings == []


def test_a_change_to_shipline_yaml_from_a_clean_commit_is_checked_whole(
    clean: Monorepo, records: RedisCheckedCommits, listings: list[list[str]]
) -> None:
    edited = SHIPLINE_YAML.replace("    path: web/src/\n", "    path: web/src/\n    target: prod\n")
    clean.commit({"shipline.yaml": edited})

    assert [change.service for change in detect(clean, records)] == ["web"]  # type: ignore[union-attr]
    listed = {path for listing in listings for path in listing}
    assert "account_service" in listed


def test_the_detector_stage_records_in_redis_the_commits_it_checked_clean(
    seeded: Monorepo, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=redis_url, workdir=tmp_path / "state", repositories=[seeded.settings]
    )
    seeded.commit({"web/src/index.html": "web v2\n"})
    push = seeded.push()

    [change] = make_handler(Runtime(settings))(push)

    assert isinstance(change, ChangeDetected)
    record = DEFAULT_KEYSPACE.project_checked(NAME, push.after)
    assert redis_client.get(record) == b"v1 max_bytes=1048576"
    assert 6 * 86400 < redis_client.ttl(record) <= 7 * 86400


# --- what a push from a clean commit must check again (pure) -------------------------------

PROJECT = parse_project(SHIPLINE_YAML)


def again(removed: tuple[str, ...] = (), present: tuple[str, ...] = ()) -> Recheck | None:
    status = {**dict.fromkeys(present, "M"), **dict.fromkeys(removed, "D")}
    return recheck(PROJECT, True, TreeChanges(status))


def test_only_a_removal_at_above_or_under_a_checked_path_or_a_changed_manifest_counts() -> None:
    assert again(present=("web/src/new.html", "docs/a.md")) == Recheck(
        frozenset(), False, frozenset()
    )
    assert again(removed=("docs/old.md",), present=("libs/common/lib.sh",)).empty()
    at = again(removed=("package-lock.json",))
    assert at is not None and at.global_paths and not at.services
    above = again(removed=("libs/common/lib.sh",))  # libs/common/ may be empty now
    assert above is not None and above.services == {"user-service", "account-service"}
    under = again(removed=("web",))  # never from a clean commit, but what is under is checked
    assert under is not None and under.services == {"web"}
    manifest = "k8s/manifests/web/deployment.yaml"
    assert again(present=(manifest,)) == Recheck(frozenset({"web"}), False, frozenset({manifest}))


def test_a_change_to_shipline_yaml_asks_for_everything() -> None:
    assert again(present=("shipline.yaml",)) is None
    assert again(removed=("shipline.yaml",)) is None


def test_a_record_made_under_other_conditions_vouches_for_nothing(
    records: RedisCheckedCommits, redis_client: redis.Redis
) -> None:
    records.mark_clean(NAME, "a" * 40, "v1 max_bytes=100")

    assert not records.extend(NAME, "a" * 40, "b" * 40, "v1 max_bytes=200")
    assert not recorded(redis_client, "b" * 40)
    assert records.extend(NAME, "a" * 40, "b" * 40, "v1 max_bytes=100")
    assert records.is_clean(NAME, "b" * 40, "v1 max_bytes=100")
