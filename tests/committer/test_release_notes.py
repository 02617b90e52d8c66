from services.committer.release_notes import group_of, prepend_changelog, release_notes
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
