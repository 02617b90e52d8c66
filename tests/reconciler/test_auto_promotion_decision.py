"""Which auto-promotions git says are owed after Redis lost them
(services/reconciler/auto_promotion_decision.py): the same request the landing's event
would have asked for, never one a pin, a rollback or the target itself already settles."""

from __future__ import annotations

from services.common.auto_promotion import auto_promotions
from services.reconciler.auto_promotion_decision import GitLanding, InGit, owed_promotions
from tests.common.test_auto_promotion import (
    GITOPS_COMMIT,
    NEW,
    OLD,
    SOURCE,
    STAGING_THEN_AUTO,
    committed,
    project,
)

LANDED_AT = 1_700_000_000.0
SOAKING = STAGING_THEN_AUTO + "    soak_seconds: 600\n"
NO_CLUSTERS: dict[str, str | None] = {"staging": None, "production": None}


def landed(subject: str = "chore(api): deploy [skip ci]") -> GitLanding:
    return GitLanding(GITOPS_COMMIT, SOURCE, LANDED_AT, subject)


def in_git(
    staging: InGit | None = None, production: InGit | None = None
) -> dict[str, dict[str, InGit]]:
    return {
        "staging": {"api": staging or InGit(image=NEW, landing=landed())},
        "production": {"api": production or InGit(image=OLD)},
    }


def test_an_image_staging_landed_that_production_lacks_is_owed_after_its_soak() -> None:
    [owed] = owed_promotions(project(SOAKING), in_git(), NO_CLUSTERS)

    assert owed.due_at == LANDED_AT + 600
    assert owed.promotion.soak_seconds == 600
    assert owed.promotion.request.environment == "production"
    assert owed.promotion.request.services == ("api",)
    assert owed.landing_commit == GITOPS_COMMIT


def test_the_request_owed_has_the_ids_the_landings_own_event_asks_with() -> None:
    [owed] = owed_promotions(project(SOAKING), in_git(), NO_CLUSTERS)
    [asked] = auto_promotions(project(SOAKING), committed(), NO_CLUSTERS)

    assert owed.promotion.request.event_id == asked.request.event_id
    assert owed.promotion.request.run_id == asked.request.run_id


def test_nothing_is_owed_when_production_runs_the_same_digest_under_another_tag() -> None:
    digest = "sha256:" + "c" * 64
    staging = InGit(image=f"{NEW}@{digest}", landing=landed())
    production = InGit(image=f"reg.example.com/acme/api:other@{digest}")

    assert owed_promotions(project(SOAKING), in_git(staging, production), NO_CLUSTERS) == []


def test_a_service_pinned_in_production_is_never_owed() -> None:
    production = InGit(image=OLD, pinned=True)

    assert owed_promotions(project(SOAKING), in_git(production=production), NO_CLUSTERS) == []


def test_a_rollback_in_staging_is_no_version_to_move_forward() -> None:
    rolled_back = InGit(image=NEW, landing=landed("revert(api): roll back x to y [skip ci]"))

    assert owed_promotions(project(SOAKING), in_git(rolled_back), NO_CLUSTERS) == []


def test_an_image_staging_holds_by_a_persons_commit_is_not_owed() -> None:
    by_hand = InGit(image=NEW, landing=None)

    assert owed_promotions(project(SOAKING), in_git(by_hand), NO_CLUSTERS) == []


def test_a_manual_environment_is_never_owed_anything() -> None:
    manual = STAGING_THEN_AUTO.replace("approval: auto", "approval: manual")

    assert owed_promotions(project(manual), in_git(), NO_CLUSTERS) == []
