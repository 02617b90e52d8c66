"""Change detection on real git repositories: every kind of push, decided by git."""

from __future__ import annotations

import pytest

from services.common.errors import ConfigError
from services.common.events import ZERO_SHA
from services.common.git import Mirror
from services.detector.detect import Skip
from tests.detector.conftest import (
    BOT,
    LAYOUT,
    NAME,
    SERVICES,
    SHIPLINE_YAML,
    Monorepo,
    deployment,
)

# --- which commit a push is compared with --------------------------------------------


def test_a_normal_push_rebuilds_what_changed_between_before_and_after(seeded: Monorepo):
    seeded.commit({"user_service/app.txt": "user v2\n"})
    seeded.commit({"user_service/more.txt": "more\n"})

    built = seeded.built(seeded.push())

    assert list(built) == ["user-service"]
    assert built["user-service"].changed_paths == ("user_service/app.txt", "user_service/more.txt")


def test_a_first_push_to_an_empty_repository_builds_every_service(mono: Monorepo):
    built = mono.built(mono.seed())

    assert sorted(built) == SERVICES


def test_a_first_push_of_a_feature_branch_to_an_empty_repository_builds_every_service(
    mono: Monorepo,
):
    mono.commit({**LAYOUT, "web/src/a": "a\n"})

    assert sorted(mono.built(mono.push("feature/first"))) == SERVICES


def test_a_new_branch_is_compared_with_its_merge_base_on_the_default_branch(seeded: Monorepo):
    fork = seeded.repo.head.commit.hexsha
    seeded.commit({"account_service/app.txt": "account v2\n"})  # main moves on
    seeded.push()
    seeded.branch("feature/login", fork)
    seeded.commit({"user_service/login.txt": "login\n"})

    push = seeded.push("feature/login")

    assert push.before == ZERO_SHA
    built = seeded.built(push)
    assert list(built) == ["user-service"]
    assert built["user-service"].tags == (f"sha-{push.after[:7]}",)


def test_a_new_branch_without_new_commits_builds_nothing(seeded: Monorepo):
    seeded.branch("release/1.x")

    assert seeded.detect(seeded.push("release/1.x")) == Skip("no service changed")


def test_a_force_push_counts_new_commits_and_the_files_of_dropped_ones(seeded: Monorepo):
    base = seeded.repo.head.commit.hexsha
    seeded.commit({"user_service/app.txt": "user v2 (to be dropped)\n"})
    seeded.push()
    seeded.mirror.fetch()  # the detector saw the old tip
    seeded.repo.git.reset("--hard", base)
    seeded.commit({"account_service/app.txt": "account v2\n"})

    push = seeded.push(force=True)

    built = seeded.built(push)
    assert sorted(built) == ["account-service", "user-service"]
    assert built["user-service"].changed_paths == ("user_service/app.txt",)


def test_a_force_push_from_a_commit_git_never_saw_on_a_branch_uses_the_default_branch(
    seeded: Monorepo,
):
    seeded.branch("feature/x")
    seeded.commit({"web/src/page.html": "page\n"})
    push = seeded.push("feature/x")
    unknown = push.model_copy(update={"before": "e" * 40})

    assert list(seeded.built(unknown)) == ["web"]


def test_a_force_push_of_the_default_branch_from_an_unknown_commit_builds_everything(
    seeded: Monorepo,
):
    seeded.commit({"web/src/page.html": "page\n"})
    push = seeded.push().model_copy(update={"before": "e" * 40})

    assert sorted(seeded.built(push)) == SERVICES


def test_a_deleted_branch_builds_nothing_and_fetches_nothing(mono: Monorepo):
    push = mono.event("refs/heads/gone", "a" * 40, ZERO_SHA)

    assert mono.detect(push) == Skip("the ref was deleted")
    assert not mono.mirror.path.exists()


def test_a_merge_commit_counts_the_files_the_merge_brought_in(seeded: Monorepo):
    seeded.branch("feature/pay")
    seeded.commit({"account_service/pay.txt": "pay\n"})
    seeded.commit({"libs/common/lib.sh": "common v2\n"})
    seeded.branch("main")
    seeded.repo.git.checkout("main")
    seeded.commit({"web/src/index.html": "web v2\n"})
    merge = seeded.merge("feature/pay", "Merge branch 'feature/pay'")

    push = seeded.push()

    assert push.after == merge
    built = seeded.built(push)
    assert sorted(built) == SERVICES
    assert built["account-service"].reason == "paths"
    assert built["user-service"].reason == "dependency"


def test_a_merge_of_main_into_a_branch_is_compared_along_the_first_parent(seeded: Monorepo):
    seeded.branch("feature/ui")
    seeded.commit({"web/src/ui.html": "ui\n"})
    seeded.push("feature/ui")
    seeded.repo.git.checkout("main")
    seeded.commit({"account_service/app.txt": "account v2\n"})
    seeded.push()
    seeded.repo.git.checkout("feature/ui")
    seeded.merge("main", "Merge main into feature/ui")

    built = seeded.built(seeded.push("feature/ui"))

    assert list(built) == ["account-service"]


def test_a_push_of_hundreds_of_commits_is_judged_on_all_of_them(seeded: Monorepo):
    directories = ("user_service", "account_service", "web/src")
    seeded.many_commits([{f"{directories[i % 3]}/file-{i}.txt": f"{i}\n"} for i in range(500)])

    push = seeded.push()

    assert push.commits == ()  # what the host listed does not matter
    built = seeded.built(push)
    assert sorted(built) == SERVICES
    assert len(built["web"].changed_paths) == 100  # reported paths are capped


def test_the_mirror_is_fetched_so_a_push_is_seen_even_if_fetched_before_it(seeded: Monorepo):
    stale = Mirror(seeded.url, seeded.mirror.path.parent)
    seeded.commit({"user_service/app.txt": "user v3\n"})
    push = seeded.push()

    assert not stale.has_commit(push.after)
    assert list(seeded.built(push)) == ["user-service"]


# --- what a change rebuilds ------------------------------------------------------------


def test_a_change_to_a_shared_library_rebuilds_every_dependent(seeded: Monorepo):
    seeded.commit({"libs/common/lib.sh": "common v2\n"})

    built = seeded.built(seeded.push())

    assert sorted(built) == ["account-service", "user-service"]
    assert {c.reason for c in built.values()} == {"dependency"}
    assert built["user-service"].changed_paths == ("libs/common/lib.sh",)


def test_a_change_to_a_services_own_entry_in_shipline_yaml_rebuilds_only_it(seeded: Monorepo):
    edited = SHIPLINE_YAML.replace(
        "    path: account_service/\n", "    path: account_service/\n    container: acct\n"
    )
    renamed = deployment("account-service").replace("name: account-service\n", "name: acct\n")
    seeded.commit(
        {"shipline.yaml": edited, "k8s/manifests/account-service/deployment.yaml": renamed}
    )

    built = seeded.built(seeded.push())

    assert list(built) == ["account-service"]
    assert built["account-service"].changed_paths == ("shipline.yaml",)
    assert built["account-service"].reason == "paths"


def test_a_new_service_in_shipline_yaml_is_built(seeded: Monorepo):
    added = SHIPLINE_YAML + "  jobs:\n    path: jobs/\n"
    seeded.commit(
        {
            "shipline.yaml": added,
            "jobs/Dockerfile": "FROM scratch\n",
            "k8s/manifests/jobs/deployment.yaml": deployment("jobs"),
        }
    )

    assert list(seeded.built(seeded.push())) == ["jobs"]


def test_a_change_of_registry_in_shipline_yaml_rebuilds_every_service(seeded: Monorepo):
    moved = SHIPLINE_YAML.replace("127.0.0.1:5000/acme", "127.0.0.1:5000/acme-new")
    seeded.commit({"shipline.yaml": moved})

    built = seeded.built(seeded.push())

    assert sorted(built) == SERVICES
    assert built["web"].image_repository == "127.0.0.1:5000/acme-new/web"


def test_a_shipline_yaml_change_outside_service_entries_rebuilds_nothing(seeded: Monorepo):
    seeded.commit({"shipline.yaml": SHIPLINE_YAML + "release_tags: ['release-*']\n"})

    assert seeded.detect(seeded.push()) == Skip("no service changed")


def test_a_dockerfile_outside_the_services_path_rebuilds_it(seeded: Monorepo):
    seeded.commit({"web/Dockerfile": "FROM scratch\nLABEL v=2\n"})

    built = seeded.built(seeded.push())

    assert list(built) == ["web"]
    assert built["web"].changed_paths == ("web/Dockerfile",)
    assert built["web"].reason == "paths"


def test_a_change_to_a_global_path_rebuilds_every_service(seeded: Monorepo):
    seeded.commit({"package-lock.json": '{"lockfileVersion": 3}\n'})

    built = seeded.built(seeded.push())

    assert sorted(built) == SERVICES
    assert {c.changed_paths for c in built.values()} == {("package-lock.json",)}
    assert {c.reason for c in built.values()} == {"dependency"}


def test_a_push_touching_only_ignored_paths_builds_nothing(seeded: Monorepo):
    seeded.commit({"user_service/README.md": "docs\n", "docs/adr/1.txt": "adr\n"})

    assert seeded.detect(seeded.push()) == Skip("only ignored paths changed")


def test_ignored_files_inside_a_service_do_not_count_but_its_other_files_do(seeded: Monorepo):
    seeded.commit({"user_service/README.md": "docs\n", "user_service/app.txt": "user v2\n"})

    assert seeded.built(seeded.push())["user-service"].changed_paths == ("user_service/app.txt",)


# --- loops and noise ---------------------------------------------------------------------


def test_a_push_of_only_the_bots_manifest_commit_builds_nothing(seeded: Monorepo):
    seeded.commit(
        {"k8s/manifests/user-service/deployment.yaml": "image: x:2\n"},
        "chore(user-service): deploy x:2 [skip ci]",
        author=BOT,
    )

    assert seeded.detect(seeded.push()) == Skip("only pipeline or [skip ci] commits")


def test_a_person_editing_only_manifests_starts_no_build(seeded: Monorepo):
    seeded.commit({"k8s/manifests/user-service/deployment.yaml": "replicas: 3\n"}, "scale up")

    assert seeded.detect(seeded.push()) == Skip("only manifest paths changed")


@pytest.mark.parametrize("marker", ["[skip ci]", "[ci skip]", "[Skip CI]"])
def test_a_push_whose_commits_ask_to_be_skipped_builds_nothing(seeded: Monorepo, marker: str):
    seeded.commit({"user_service/app.txt": "user v2\n"}, f"wip {marker}")

    assert seeded.detect(seeded.push()) == Skip("only pipeline or [skip ci] commits")


def test_a_bot_commit_followed_by_a_persons_commit_is_built(seeded: Monorepo):
    seeded.commit({"k8s/manifests/user-service/deployment.yaml": "image: x:2\n"}, "bot", BOT)
    seeded.commit({"account_service/app.txt": "account v2\n"}, "feat: accounts")

    assert list(seeded.built(seeded.push())) == ["account-service"]


# --- release tags ------------------------------------------------------------------------


def test_a_release_tag_builds_every_service_with_the_version_as_tag(seeded: Monorepo):
    built = seeded.built(seeded.tag("v1.2.3"))

    assert sorted(built) == SERVICES
    assert {c.tags for c in built.values()} == {("v1.2.3",)}
    assert {c.reason for c in built.values()} == {"release"}


def test_a_tag_that_is_not_a_release_builds_nothing(seeded: Monorepo):
    assert seeded.detect(seeded.tag("nightly")) == Skip("tag nightly is not a release tag (v*.*.*)")


# --- the pushed ref, checked in the mirror -------------------------------------------------


def test_an_annotated_release_tag_is_built_at_the_commit_it_names(seeded: Monorepo):
    head = seeded.repo.head.commit.hexsha
    tag = seeded.repo.create_tag("v2.0.0", message="release 2.0.0")
    seeded.repo.git.push("origin", "refs/tags/v2.0.0")
    assert tag.object.hexsha != head  # the webhook's `after` is the tag object

    built = seeded.built(seeded.event("refs/tags/v2.0.0", ZERO_SHA, tag.object.hexsha))

    assert sorted(built) == SERVICES
    assert {change.source.commit for change in built.values()} == {head}


def test_a_tag_that_was_never_pushed_builds_nothing(seeded: Monorepo):
    push = seeded.event("refs/tags/v9.9.9", ZERO_SHA, seeded.repo.head.commit.hexsha)

    assert seeded.detect(push) == Skip(f"refs/tags/v9.9.9 does not exist in {NAME}")


def test_a_tag_that_names_another_commit_builds_nothing(seeded: Monorepo):
    tagged = seeded.repo.head.commit.hexsha
    seeded.tag("v1.0.0")
    later = seeded.commit({"web/src/index.html": "web v2\n"})
    seeded.push()

    result = seeded.detect(seeded.event("refs/tags/v1.0.0", ZERO_SHA, later))

    assert result == Skip(f"refs/tags/v1.0.0 points at {tagged[:7]}, not at the pushed {later[:7]}")


def test_a_branch_push_of_a_commit_the_branch_does_not_hold_builds_nothing(seeded: Monorepo):
    main = seeded.repo.head.commit.hexsha
    seeded.branch("feature")
    elsewhere = seeded.commit({"web/src/index.html": "feature\n"})
    seeded.push("feature")

    result = seeded.detect(seeded.event("refs/heads/main", main, elsewhere))

    assert result == Skip(f"refs/heads/main does not contain the pushed commit {elsewhere[:7]}")


def test_a_branch_that_moved_on_since_the_push_still_builds_the_pushed_commit(seeded: Monorepo):
    before = seeded.repo.head.commit.hexsha
    pushed = seeded.commit({"web/src/index.html": "web v2\n"})
    seeded.push()
    seeded.commit({"account_service/app.txt": "account v2\n"})
    seeded.push()

    built = seeded.built(seeded.event("refs/heads/main", before, pushed))

    assert list(built) == ["web"]
    assert built["web"].source.commit == pushed


# --- limits --------------------------------------------------------------------------------


def test_a_shipline_yaml_over_the_size_limit_is_refused_before_it_is_parsed(seeded: Monorepo):
    seeded.commit({"shipline.yaml": SHIPLINE_YAML + "#" * 2_000_000 + "\n"})
    push = seeded.push()

    with pytest.raises(ConfigError, match="larger than the limit of 1048576 bytes"):
        seeded.detect(push)
