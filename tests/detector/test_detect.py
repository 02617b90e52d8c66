import re

import pytest

from services.committer.messages import deploy_message
from services.common.events import ZERO_SHA, ChangeDetected, PushReceived, Source
from services.common.git import CommitInfo
from services.common.project import Project, parse_project
from services.demo.microbank import SERVICES, write_microbank
from services.detector.detect import COMMIT_SCAN_LIMIT, Skip, detect, parse_ref

REGISTRY = "127.0.0.1:5000/microbank"
BEFORE = "a10867b14bb761a232cd80139fbd4c0d33264240"
AFTER = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
BOT = "shipline-bot@localhost"
BACKENDS = ["account-service", "notification-service", "transaction-service", "user-service"]
SOURCE = Source(repository="acme/microbank", commit=BEFORE, ref="refs/heads/main")
DOCKER_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@pytest.fixture(scope="module")
def microbank(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("microbank")
    write_microbank(root, REGISTRY, "shipline/busybox:1")
    return parse_project((root / "shipline.yaml").read_text())


def push(ref: str = "refs/heads/main", after: str = AFTER) -> PushReceived:
    return PushReceived(
        run_id="run-1",
        provider="github",
        delivery_id="delivery-1",
        repository="acme/microbank",
        ref=ref,
        before=BEFORE,
        after=after,
    )


def by_dev(message: str = "feat: greet by name") -> CommitInfo:
    return CommitInfo(sha=AFTER, author_email="ada@example.com", message=message)


def by_bot() -> CommitInfo:
    return CommitInfo(
        sha=BEFORE, author_email=BOT, message="chore(user-service): deploy x [skip ci]"
    )


def run_detect(
    project: Project,
    changed: list[str],
    event: PushReceived | None = None,
    commits: list[CommitInfo] | None = None,
) -> list[ChangeDetected] | Skip:
    return detect(
        event or push(),
        project,
        changed,
        [by_dev()] if commits is None else commits,
        default_branch="main",
        bot_email=BOT,
    )


def services_of(result: list[ChangeDetected] | Skip) -> list[str]:
    assert isinstance(result, list), f"expected changes, got {result}"
    return [change.service for change in result]


def test_a_change_in_one_service_rebuilds_only_that_service(microbank):
    [change] = run_detect(microbank, ["user_service/app.txt", "README.md"])

    assert change.service == "user-service"
    assert change.reason == "paths"
    assert change.changed_paths == ("user_service/app.txt",)
    assert change.context == "user_service"
    assert change.dockerfile == "Dockerfile"
    assert change.image_repository == f"{REGISTRY}/user-service"
    assert change.source.commit == AFTER
    assert change.source.ref == "refs/heads/main"
    assert change.source.repository == "acme/microbank"
    assert change.run_id == "run-1"


def test_a_change_in_the_common_lib_rebuilds_every_dependent(microbank):
    result = run_detect(microbank, ["libs/common/banking.sh"])

    assert services_of(result) == BACKENDS
    assert {change.reason for change in result} == {"dependency"}


def test_a_service_touched_directly_and_through_its_dependency_is_rebuilt_for_its_paths(
    microbank,
):
    result = run_detect(microbank, ["libs/common/banking.sh", "user_service/app.txt"])

    reasons = {change.service: change.reason for change in result}
    assert reasons["user-service"] == "paths"
    assert reasons["account-service"] == "dependency"
    assert "frontend" not in reasons


def test_a_sibling_directory_with_a_common_prefix_does_not_trigger_a_build(microbank):
    assert run_detect(microbank, ["user_service2/app.txt"]) == Skip("no service changed")


def test_the_default_branch_is_tagged_with_the_short_sha_and_latest(microbank):
    [change] = run_detect(microbank, ["frontend/app.txt"])

    assert change.tags == ("sha-6113728", "latest")


def test_another_branch_is_tagged_with_the_short_sha_only(microbank):
    [change] = run_detect(microbank, ["frontend/app.txt"], push("refs/heads/feature/login"))

    assert change.tags == ("sha-6113728",)


def test_a_release_tag_rebuilds_every_service_tagged_with_the_version(microbank):
    result = run_detect(microbank, [], push("refs/tags/v1.0.0"))

    assert services_of(result) == sorted(SERVICES)
    assert {change.tags for change in result} == {("v1.0.0",)}
    assert {change.reason for change in result} == {"release"}
    assert {change.source.ref for change in result} == {"refs/tags/v1.0.0"}


def test_a_release_tag_is_built_even_when_its_commits_are_the_bots(microbank):
    result = run_detect(microbank, [], push("refs/tags/v1.0.1"), commits=[by_bot()])

    assert len(services_of(result)) == len(SERVICES)


def test_a_release_tag_with_a_slash_still_yields_valid_image_tags(microbank):
    releases = microbank.model_copy(update={"release_tags": ("release/*",)})

    result = run_detect(releases, [], push("refs/tags/release/1.2"))

    tags = {tag for change in result for tag in change.tags}
    assert tags
    assert all(DOCKER_TAG.match(tag) for tag in tags), tags


def test_a_deleted_branch_is_skipped(microbank):
    result = run_detect(microbank, ["user_service/app.txt"], push(after=ZERO_SHA))

    assert result == Skip("the ref was deleted")


def test_a_deleted_tag_is_skipped(microbank):
    result = run_detect(microbank, [], push("refs/tags/v1.0.0", after=ZERO_SHA))

    assert result == Skip("the ref was deleted")


def test_a_push_of_only_the_bots_commits_is_skipped(microbank):
    result = run_detect(microbank, ["user_service/app.txt"], commits=[by_bot(), by_bot()])

    assert result == Skip("only pipeline or [skip ci] commits")


@pytest.mark.parametrize("marker", ["[skip ci]", "[ci skip]", "[skip shipline]"])
def test_a_push_whose_commits_all_ask_to_be_skipped_is_skipped(microbank, marker):
    commits = [by_dev(f"docs: typo {marker}"), by_bot()]

    result = run_detect(microbank, ["user_service/app.txt"], commits=commits)

    assert result == Skip("only pipeline or [skip ci] commits")


def test_the_committers_deploy_commit_skips_ci_in_its_subject():
    image = f"{REGISTRY}/user-service:sha-6113728"

    subject = deploy_message("user-service", image, SOURCE).splitlines()[0]

    assert subject == f"chore(user-service): deploy {image} [skip ci]"


def test_the_committers_deploy_commit_is_skipped_even_under_another_author(microbank):
    message = deploy_message("user-service", f"{REGISTRY}/user-service:sha-6113728", SOURCE)
    commits = [CommitInfo(sha=AFTER, author_email="ops@example.com", message=message)]

    result = run_detect(microbank, ["k8s/manifests/user-service/deployment.yaml"], commits=commits)

    assert result == Skip("only pipeline or [skip ci] commits")


def test_one_ordinary_commit_among_the_bots_commits_is_built(microbank):
    result = run_detect(microbank, ["user_service/app.txt"], commits=[by_bot(), by_dev()])

    assert services_of(result) == ["user-service"]


def test_a_push_that_touches_no_service_is_skipped(microbank):
    assert run_detect(microbank, ["README.md", "docs/adr/0001.md"]) == Skip("no service changed")


def test_the_same_push_detected_twice_yields_the_same_event_ids(microbank):
    event = push()

    first = run_detect(microbank, ["libs/common/banking.sh"], event)
    second = run_detect(microbank, ["libs/common/banking.sh"], event)

    assert [c.event_id for c in first] == [c.event_id for c in second]
    assert len({c.event_id for c in first}) == len(BACKENDS)


def test_different_pushes_yield_different_event_ids(microbank):
    [first] = run_detect(microbank, ["user_service/app.txt"])
    [second] = run_detect(microbank, ["user_service/app.txt"])

    assert first.event_id != second.event_id


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("refs/heads/main", ("branch", "main")),
        ("refs/heads/feature/login", ("branch", "feature/login")),
        ("refs/tags/v1.0.0", ("tag", "v1.0.0")),
    ],
)
def test_parse_ref_splits_branches_and_tags(ref, expected):
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["refs/pull/1/head", "refs/heads/", "refs/tags/", "main"])
def test_parse_ref_rejects_anything_but_a_named_branch_or_tag(ref):
    with pytest.raises(ValueError, match="unsupported ref"):
        parse_ref(ref)


@pytest.mark.parametrize("tag", ["v1.0.0", "v10.2.33", "v1.0.0-rc.1"])
def test_tags_matching_the_default_release_pattern_are_releases(microbank, tag):
    result = run_detect(microbank, [], push(f"refs/tags/{tag}"))

    assert {change.reason for change in result} == {"release"}


@pytest.mark.parametrize("tag", ["v1", "v1.0", "latest", "nightly-2024"])
def test_tags_not_matching_the_release_pattern_build_nothing(microbank, tag):
    result = run_detect(microbank, [], push(f"refs/tags/{tag}"))

    assert result == Skip(f"tag {tag} is not a release tag (v*.*.*)")


def test_release_tags_can_be_switched_off(microbank):
    no_releases = microbank.model_copy(update={"release_tags": ()})

    result = run_detect(no_releases, [], push("refs/tags/v1.0.0"))

    assert result == Skip("tag v1.0.0 is not a release tag (none configured)")


def test_a_push_of_only_manifest_files_builds_nothing(microbank):
    manifests = [
        "k8s/manifests/user-service/deployment.yaml",
        "k8s/manifests/frontend/deployment.yaml",
    ]

    assert run_detect(microbank, manifests) == Skip("only manifest paths changed")


def test_manifests_of_another_gitops_repository_are_ordinary_files(microbank):
    elsewhere = microbank.model_copy(
        update={"gitops": microbank.gitops.model_copy(update={"repository": "acme/gitops"})}
    )

    result = run_detect(elsewhere, ["k8s/manifests/user-service/deployment.yaml"])

    assert result == Skip("no service changed")


def test_skip_markers_are_matched_whatever_their_case(microbank):
    result = run_detect(microbank, ["user_service/app.txt"], commits=[by_dev("fix [CI SKIP]")])

    assert result == Skip("only pipeline or [skip ci] commits")


def test_a_push_too_long_to_scan_is_never_taken_for_the_bots_alone(microbank):
    commits = [by_bot()] * COMMIT_SCAN_LIMIT

    assert services_of(run_detect(microbank, ["user_service/app.txt"], commits=commits)) == [
        "user-service"
    ]


def test_the_paths_that_caused_a_build_come_first_then_its_dependencies(microbank):
    result = run_detect(microbank, ["libs/common/banking.sh", "user_service/app.txt"])

    change = next(c for c in result if c.service == "user-service")
    assert change.changed_paths == ("user_service/app.txt", "libs/common/banking.sh")
