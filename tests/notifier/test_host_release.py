"""What a release run's Release on the git host says (pure: the run summary in, the draft out)."""

from __future__ import annotations

from services.common.events import ServiceOutcome
from services.githost.releases import BODY_CHARS
from services.notifier.host_release import release_draft
from tests.notifier.samples import REGISTRY, USER_DIGEST, run_completed, user_succeeded


def release_run(status: str = "succeeded", notes: str = "## v2.0.0\n\n- feat: x", **services):
    summary = run_completed(status, **services)
    return summary.model_copy(update={"release": "v2.0.0", "release_notes": notes})


def test_the_release_is_named_by_its_tag_and_lists_the_notes_then_each_image_at_its_digest():
    draft = release_run()

    made = release_draft(draft)

    assert made is not None and (made.tag, made.name) == ("v2.0.0", "v2.0.0")
    image = f"{REGISTRY}/user-service:sha-6113728@{USER_DIGEST}"
    assert made.body == f"## v2.0.0\n\n- feat: x\n\n## Images\n\n- **user-service**: `{image}`\n"


def test_a_service_a_pin_held_out_of_the_release_is_listed_with_why():
    held = ServiceOutcome(status="held", reason="pinned to sha-1111111 by alice")
    made = release_draft(release_run(**{"user-service": user_succeeded(), "ledger": held}))

    assert made is not None
    assert "- **ledger**: held, pinned to sha-1111111 by alice" in made.body


def test_a_run_that_is_no_release_or_did_not_deploy_has_no_release():
    assert release_draft(run_completed()) is None
    assert release_draft(release_run("failed")) is None
    assert release_draft(release_run("blocked")) is None


def test_notes_too_long_for_the_host_are_cut_short_and_the_images_kept():
    made = release_draft(release_run(notes="- fix: y\n" * 20_000))

    assert made is not None and len(made.body) <= BODY_CHARS
    assert "cut short" in made.body and f"@{USER_DIGEST}`" in made.body
