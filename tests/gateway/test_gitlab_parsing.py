import pytest

from services.common.events import ZERO_SHA
from services.gateway.gitlab import HOST, parse_push, token_matches
from services.gateway.webhook import WebhookRejected
from tests.gateway import payloads
from tests.gateway.payloads import edited, payload

SECRET = "gl-token-Zq8pLm2Vx7Rt4Nk9"
UUID = {"x-gitlab-event-uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e"}


def rejection(body: bytes, headers: dict[str, str] = UUID) -> WebhookRejected:
    return payloads.rejection(parse_push, body, headers)


def test_the_token_header_must_equal_the_secret():
    assert token_matches(SECRET, SECRET)
    assert not token_matches(SECRET, SECRET + "x")
    assert not token_matches(SECRET, None)
    assert not token_matches(SECRET, "")


def test_push_and_tag_push_hooks_are_pushes_and_other_hooks_are_not():
    assert HOST.kind({"x-gitlab-event": "Push Hook"}) == ("push", "Push Hook")
    assert HOST.kind({"x-gitlab-event": "Tag Push Hook"}) == ("push", "Tag Push Hook")
    assert HOST.kind({"x-gitlab-event": "Merge Request Hook"})[0] == "other"
    assert HOST.kind({})[0] == "other"


def test_a_push_hook_with_a_merge_commit_and_a_truncated_list_parses():
    push = parse_push(payload("gitlab", "push.json"), UUID, run_id="run-1")

    assert push.provider == "gitlab"
    assert push.repository == "mike/diaspora"
    assert push.ref == "refs/heads/master"
    assert push.before == "95790bf891e76fee5e1747ab589903a6a1f80f22"
    assert push.after == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert push.pusher == "jsmith"
    assert push.delivery_id == UUID["x-gitlab-event-uuid"]
    assert [c.id[:7] for c in push.commits] == ["b6568db", "da15608"]
    assert push.commits[0].message.startswith("Merge branch 'some-feature'")
    assert push.commits[0].author == "jordi@softcatala.org"
    assert push.commits[0].added == ("CHANGELOG",)


def test_a_tag_push_hook_parses_as_a_new_tag():
    push = parse_push(payload("gitlab", "tag_push.json"), UUID, run_id="run-2")

    assert push.ref == "refs/tags/v1.0.0"
    assert push.before == ZERO_SHA
    assert push.after == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
    assert push.repository == "jsmith/example"


def test_the_idempotency_key_is_preferred_as_delivery_id():
    headers = {**UUID, "idempotency-key": "908a6d9e-45fd-46c8-97e6-c4f350f219dd"}

    push = parse_push(payload("gitlab", "push.json"), headers, run_id="run-1")

    assert push.delivery_id == "908a6d9e-45fd-46c8-97e6-c4f350f219dd"


def test_without_a_delivery_header_the_same_ref_update_gets_the_same_delivery_id():
    body = payload("gitlab", "push.json")

    first = parse_push(body, {}, run_id="run-1")
    again = parse_push(body, {}, run_id="run-2")
    other = edited("gitlab", "push.json", after="b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327")
    different = parse_push(other, {}, run_id="run-3")

    assert first.delivery_id == again.delivery_id
    assert first.delivery_id.startswith("push-")
    assert different.delivery_id != first.delivery_id


def test_a_deleted_branch_parses_with_after_all_zeros():
    body = edited(
        "gitlab", "push.json", after=ZERO_SHA, checkout_sha=None, commits=[], total_commits_count=0
    )

    push = parse_push(body, UUID, run_id="run-1")

    assert push.after == ZERO_SHA
    assert push.commits == ()


def test_a_body_that_is_not_a_push_is_rejected_with_422_naming_the_field():
    rejected = rejection(b'{"object_kind": "merge_request", "ref": "refs/heads/x"}')

    assert rejected.status == 422
    assert "object_kind" in rejected.reason


@pytest.mark.parametrize("ref", ["refs/heads/a..b", "refs/heads/$(id)", "refs/merge-requests/1"])
def test_a_bad_ref_is_rejected_with_422(ref):
    assert rejection(edited("gitlab", "push.json", ref=ref)).status == 422


def test_a_body_that_is_not_json_is_rejected_with_400():
    assert rejection(b"{").status == 400


def test_a_token_header_that_is_not_ascii_does_not_match_even_a_non_ascii_secret():
    assert not token_matches(SECRET, "\u00e9t\u00e9")
    assert not token_matches("s\u00e9cret", "s\u00e9cre\u00ff")
    assert token_matches("s\u00e9cret", "s\u00e9cret")
