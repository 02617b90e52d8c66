"""A promotion pull request's lost record rebuilt only from what the host and git show
(services/reconciler/promotion_pull_rebuild.py), and each way somebody who can open a
pull request, or push a branch, might pass one off as Shipline's is refused."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from services.committer.messages import promotion_message
from services.common.errors import PermanentError
from services.common.events import Source
from services.common.project import Project, parse_project
from services.common.promotion_pulls import PendingPromotion
from services.githost import PullRequest, PullRequestState
from services.reconciler.promotion_pull_rebuild import HeadCommit, Place, ServiceImages, rebuilt

BOT = ("Shipline Bot", "shipline-bot@localhost")
REQUEST = uuid.UUID("00000000-0000-4000-8000-000000000001")
SOURCE = Source(repository="acme/shop", commit="a" * 40, ref="refs/heads/main")
IMAGE = "reg.example.com/acme/api:sha-aaaaaaa"
OLD = "reg.example.com/acme/api:sha-0000000"
PLACE = Place("acme/shop", "main", "acme/shop", "main", None)
MANIFEST = "k8s/overlays/production/api.yaml"


def project() -> Project:
    return parse_project(
        "registry: reg.example.com/acme\n"
        "environments:\n"
        "  - name: staging\n"
        "  - name: production\n"
        "    from: staging\n"
        "    approval: pull-request\n"
        "services:\n"
        "  api:\n"
        "    path: api/\n"
        "    manifest: k8s/overlays/{environment}/api.yaml\n"
    )


def message(run_id: str = "r-123") -> str:
    return promotion_message(
        "production", "staging", {"api": (IMAGE, "", SOURCE)}, "alice", "", REQUEST, run_id
    )


PULL = PullRequest(
    number=4,
    url="https://github.example/acme/shop/pull/4",
    state=PullRequestState.OPEN,
    title="Promote api to production",
    head="shipline/promote-production",
    base="main",
    head_sha="c" * 40,
    same_repository=True,
)
HEAD = HeadCommit(
    sha="c" * 40,
    parents=("b" * 40,),
    author=BOT,
    committer=BOT,
    message=message(),
    ahead=1,
    parent_on_base=True,
    changed=frozenset({MANIFEST}),
)
IMAGES = {"api": ServiceImages(new=IMAGE, old=OLD, in_source=IMAGE, source_commit="a" * 40)}


def rebuild(
    pull: PullRequest = PULL, head: HeadCommit | None = HEAD, images=IMAGES
) -> PendingPromotion | str:
    found = project()
    return rebuilt(pull, head, found.environment("production"), found, PLACE, BOT, images)


def test_shipline_s_own_request_is_rebuilt_as_the_committer_recorded_it() -> None:
    pending = rebuild()

    assert isinstance(pending, PendingPromotion), pending
    assert (pending.run_id, pending.number, pending.commit) == ("r-123", 4, "c" * 40)
    assert (pending.environment, pending.branch) == ("production", "shipline/promote-production")
    [committed] = pending.committed
    assert committed.event_id == uuid.uuid5(REQUEST, "ManifestCommitted:api")  # the committer's
    assert (committed.old_image, committed.new_image) == (OLD, IMAGE)
    assert (committed.manifest_path, committed.gitops_commit) == (MANIFEST, "c" * 40)
    assert committed.source.commit == "a" * 40


def test_a_commit_from_before_the_run_trailer_gets_a_recovered_run_of_its_own() -> None:
    without = message("").replace("Shipline-Run: r-123\n", "")
    pending = rebuild(head=dataclasses.replace(HEAD, message=without))

    assert isinstance(pending, PendingPromotion)
    assert pending.run_id.startswith("recovered-")
    again = rebuild(head=dataclasses.replace(HEAD, message=without))
    assert isinstance(again, PendingPromotion) and again.run_id == pending.run_id


@pytest.mark.parametrize(
    ("attack", "pull", "head", "why"),
    [
        ("a fork's branch of Shipline's name", {"same_repository": False}, {}, "fork"),
        ("a host that does not say whose branch", {"same_repository": None}, {}, "fork"),
        ("another branch name", {"head": "shipline/promote-production-x"}, {}, "head branch"),
        ("the host names another head", {"head_sha": "d" * 40}, {}, "disagree"),
        ("a person's author line", {}, {"author": ("Mallory", "m@evil")}, "Shipline's"),
        ("the bot's author, a person's committer", {}, {"committer": ("M", "m@x")}, "Shipline's"),
        ("a second commit on top", {}, {"ahead": 2}, "one commit"),
        ("a branch off an unmerged commit", {}, {"parent_on_base": False}, "one commit"),
        ("another file changed too", {}, {"changed": frozenset({MANIFEST, "x.yaml"})}, "other"),
        ("a deploy, not a promotion", {}, {"message": "chore(api): deploy x [skip ci]"}, "no"),
    ],
)
def test_a_request_passed_off_as_shiplines_is_refused(
    attack: str, pull: dict[str, object], head: dict[str, object], why: str
) -> None:
    refused = rebuild(
        PULL.model_copy(update=pull),
        dataclasses.replace(HEAD, **head),  # type: ignore[arg-type]
    )

    assert isinstance(refused, str), attack
    assert why in refused, (attack, refused)


def test_an_image_staging_never_ran_is_refused_even_in_shiplines_own_commit() -> None:
    unscanned = {"api": dataclasses.replace(IMAGES["api"], new="reg.example.com/acme/api:evil")}

    refused = rebuild(images=unscanned)

    assert isinstance(refused, str) and "not what staging runs" in refused


def test_an_image_staging_runs_from_another_source_commit_is_refused() -> None:
    other = {"api": dataclasses.replace(IMAGES["api"], source_commit="f" * 40)}

    assert isinstance(rebuild(images=other), str)


def test_a_branch_git_does_not_have_is_refused() -> None:
    assert rebuild(head=None) == "its head branch is not in git"


def test_a_run_id_that_would_add_a_line_to_the_commit_is_refused() -> None:
    with pytest.raises(PermanentError):
        message("r-1\nShipline-Request: 00000000-0000-4000-8000-000000000002")
