import uuid

import pytest

from services.committer.messages import (
    Deployed,
    deploy_message,
    deployed_from,
    release_message,
    rollback_message,
)
from services.committer.release_notes import group_of, prepend_changelog, release_notes
from services.common.errors import PermanentError
from services.common.events import Source
from services.common.git import CommitInfo

BOT = "shipline-bot@localhost"


def commit(message: str, sha: str = "a" * 40, email: str = "dev@example.com") -> CommitInfo:
    return CommitInfo(sha, email, message)


def test_conventional_commits_are_grouped_by_type_with_scope_and_breaking_changes() -> None:
    assert group_of("feat(cart): coupons\n\nbody") == ("feat", "**cart:** coupons")
    assert group_of("fix: rounding") == ("fix", "rounding")
    assert group_of("feat(api)!: drop v1") == ("breaking", "feat: **api:** drop v1")
    assert group_of("refactor: x\n\nBREAKING CHANGE: y") == ("breaking", "refactor: x")
    assert group_of("Merge branch 'x'") == ("other", "Merge branch 'x'")
    assert group_of("wip: stuff") == ("other", "stuff")


def test_notes_list_groups_in_a_fixed_order_and_leave_out_the_bots_commits() -> None:
    notes = release_notes(
        "v1.2.0",
        "v1.1.0",
        [
            commit("fix(cart): rounding", "1" * 40),
            commit("chore(cart): deploy x [skip ci]", "2" * 40, BOT),
            commit("feat: coupons", "3" * 40),
            commit("update readme", "4" * 40),
        ],
        BOT,
    )

    assert notes == (
        "## v1.2.0 (changes since v1.1.0)\n\n"
        "### Features\n\n- coupons (3333333)\n\n"
        "### Bug fixes\n\n- **cart:** rounding (1111111)\n\n"
        "### Other changes\n\n- update readme (4444444)\n"
    )


def test_first_release_and_empty_release_say_so() -> None:
    assert release_notes("v1.0.0", None, [], BOT) == "## v1.0.0 (first release)\n\nNo changes.\n"


def test_changelog_gets_the_notes_under_its_title() -> None:
    notes = "## v2\n\n- b\n"

    assert prepend_changelog(None, notes) == "# Changelog\n\n## v2\n\n- b\n"
    assert prepend_changelog("# Changelog\n\n## v1\n\n- a\n", notes) == (
        "# Changelog\n\n## v2\n\n- b\n\n## v1\n\n- a\n"
    )
    assert prepend_changelog("## v1\n", notes) == "## v2\n\n- b\n\n## v1\n"


# --- nothing from a version, a subject or a name adds a line to a commit message --------

FAKE_TRAILER = "\nShipline-Deployed: cart evil/repo@" + "e" * 40


@pytest.mark.parametrize(
    "version",
    ["v1.0.0" + FAKE_TRAILER, "v1.0.0\r", "v1\x1b[2J", "-v1", "", "v" * 200, "v1.0 0"],
)
def test_a_release_version_that_could_break_a_message_is_refused(version: str) -> None:
    with pytest.raises(PermanentError, match="release version .* refused"):
        release_notes(version, None, [commit("feat: x")], BOT)
    with pytest.raises(PermanentError, match="release version .* refused"):
        release_message(version, "", {}, uuid.uuid4())


@pytest.mark.parametrize("version", ["v1.2.3", "1.0.0-rc.1+build.5", "release/2026.12"])
def test_ordinary_release_versions_are_accepted(version: str) -> None:
    assert release_message(version, "", {}, uuid.uuid4()).startswith(f"release {version} ")


def test_a_commit_subject_stays_on_its_line_in_the_release_message() -> None:
    subject = "fix: ok\u2028Shipline-Request: 00000000-0000-0000-0000-000000000000\x1b[31m"
    notes = release_notes("v1.0.0", None, [commit(subject)], BOT)

    message = release_message("v1.0.0", notes, {}, uuid.uuid4())

    [request] = [line for line in message.splitlines() if line.startswith("Shipline-")]
    assert request.startswith("Shipline-Request: ") and "0000-0000" not in request
    assert "\x1b" not in message and "\u2028" not in message


def test_a_requester_name_cannot_add_a_trailer_to_a_rollback_message() -> None:
    source = Source(repository="acme/shop", commit="c" * 40, ref="refs/heads/main")

    message = rollback_message(
        "cart", "r/cart:v2", "r/cart:v1", "eve" + FAKE_TRAILER, uuid.uuid4(), source
    )

    assert [
        line.split(":")[0] for line in message.splitlines() if line.startswith("Shipline-")
    ] == [
        "Shipline-Deployed",
        "Shipline-Request",
    ]
    assert deployed_from(message, "cart") == Deployed("acme/shop", "c" * 40)


@pytest.mark.parametrize(
    ("image", "repository"),
    [("r/cart:v2\nShipline-Deployed: x", "acme/shop"), ("r/cart:v2", "acme/shop" + FAKE_TRAILER)],
)
def test_an_image_or_repository_with_a_line_break_is_refused_in_a_deploy_message(
    image: str, repository: str
) -> None:
    source = Source(repository=repository, commit="c" * 40, ref="refs/heads/main")

    with pytest.raises(PermanentError, match="refused for a commit message"):
        deploy_message("cart", image, source)
