import json

import pytest

from services.common.events import ZERO_SHA
from services.common.settings import Repository
from services.gateway.github import (
    WebhookRejected,
    parse_push,
    sign,
    signature_matches,
    verified_repositories,
)
from tests.gateway import payloads
from tests.gateway.payloads import edited, folder, payload

SECRET = "whsec-Zq8pLm2Vx7Rt4Nk9"
DELIVERY = {"x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
FIRST_COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def fixture(name: str) -> bytes:
    return payload("github", name)


def push_payload(**overrides: object) -> bytes:
    return edited("github", "push-new-branch.json", **overrides)


def rejection(body: bytes, headers: dict[str, str] = DELIVERY) -> WebhookRejected:
    return payloads.rejection(parse_push, body, headers)


def test_a_signature_made_with_the_secret_matches():
    body = fixture("push-new-branch.json")
    header = sign(SECRET, body)

    assert header.startswith("sha256=")
    assert signature_matches(SECRET, body, header)


def test_a_signature_made_with_another_secret_does_not_match():
    body = fixture("push-new-branch.json")

    assert not signature_matches(SECRET, body, sign("another-secret", body))


def test_a_signature_of_another_body_does_not_match():
    body = fixture("push-new-branch.json")

    assert not signature_matches(SECRET, body + b" ", sign(SECRET, body))


@pytest.mark.parametrize("header", [None, "", "sha256="], ids=["missing", "empty", "no-digest"])
def test_a_missing_signature_does_not_match(header):
    assert not signature_matches(SECRET, b"{}", header)


def test_a_signature_with_the_sha1_prefix_does_not_match():
    digest = sign(SECRET, b"{}").removeprefix("sha256=")

    assert not signature_matches(SECRET, b"{}", f"sha1={digest}")
    assert not signature_matches(SECRET, b"{}", digest)


def test_only_the_repositories_whose_secret_signed_the_body_are_verified():
    body = fixture("push-new-branch.json")
    ours = Repository(name="acme/microbank", url="https://git.example.com/a", webhook_secret=SECRET)
    other = Repository(
        name="acme/other", url="https://git.example.com/b", webhook_secret="a-different-secret"
    )

    assert verified_repositories([ours, other], body, sign(SECRET, body)) == [ours]
    assert verified_repositories([ours, other], body, None) == []


def test_the_fixture_directory_is_found():
    assert sorted(p.name for p in folder("github").glob("*.json")) == [
        "push-new-branch.json",
        "push-tag-deleted.json",
    ]


def test_a_new_branch_push_parses_with_before_all_zeros():
    push = parse_push(fixture("push-new-branch.json"), DELIVERY, run_id="run-1")

    assert push.run_id == "run-1"
    assert push.provider == "github"
    assert push.delivery_id == DELIVERY["x-github-delivery"]
    assert push.repository == "Codertocat/Hello-World"
    assert push.ref == "refs/heads/master"
    assert push.before == ZERO_SHA
    assert push.after == FIRST_COMMIT
    assert push.pusher == "Codertocat"
    [commit] = push.commits
    assert commit.id == FIRST_COMMIT
    assert commit.message == "Initial commit"
    assert commit.author == "21031067+Codertocat@users.noreply.github.com"
    assert commit.added == ("README.md",)
    assert commit.modified == commit.removed == ()


def test_a_deleted_tag_parses_with_after_all_zeros_and_no_commits():
    push = parse_push(fixture("push-tag-deleted.json"), DELIVERY, run_id="run-2")

    assert push.ref == "refs/tags/simple-tag"
    assert push.before == FIRST_COMMIT
    assert push.after == ZERO_SHA
    assert push.commits == ()


def test_a_body_that_is_not_json_is_rejected_with_400():
    rejected = rejection(b'{"ref": "refs/heads/main",')

    assert rejected.status == 400
    assert "not valid JSON" in rejected.reason


def test_a_body_that_is_not_utf8_is_rejected_with_400():
    assert rejection(b"\xff\xfe{}").status == 400


def test_a_missing_delivery_header_is_rejected_with_400():
    rejected = rejection(fixture("push-new-branch.json"), headers={})

    assert rejected.status == 400
    assert "X-GitHub-Delivery" in rejected.reason


def test_an_oversized_delivery_header_is_rejected_with_400():
    headers = {"x-github-delivery": "d" * 101}

    assert rejection(fixture("push-new-branch.json"), headers).status == 400


def test_a_json_body_that_is_not_a_push_is_rejected_with_422_naming_the_field():
    rejected = rejection(b'{"zen": "Design for failure.", "hook_id": 1}')

    assert rejected.status == 422
    assert "ref" in rejected.reason


@pytest.mark.parametrize(
    "ref",
    [
        "refs/heads/main/../../etc",
        "refs/heads/a..b",
        "refs/heads/main;rm -rf /",
        "refs/heads/$(id)",
        "refs/heads/`whoami`",
        "refs/heads/main|cat",
        "refs/heads/main\nrefs/heads/evil",
        "refs/pull/1/head",
    ],
)
def test_a_ref_with_dots_or_shell_metacharacters_is_rejected_with_422(ref):
    rejected = rejection(push_payload(ref=ref))

    assert rejected.status == 422


def test_a_commit_id_that_is_not_a_sha_is_rejected_with_422():
    data = json.loads(fixture("push-new-branch.json"))
    data["commits"][0]["id"] = "HEAD~1"

    assert rejection(json.dumps(data).encode()).status == 422


@pytest.mark.parametrize("delivery", ["a\x01b", "two words", "caf\u00e9", "line\nbreak"])
def test_a_delivery_header_that_is_not_printable_ascii_is_rejected_with_400(delivery):
    rejected = rejection(fixture("push-new-branch.json"), {"x-github-delivery": delivery})

    assert rejected.status == 400
    assert "printable ASCII" in rejected.reason


def test_a_body_nested_deeper_than_the_limit_is_rejected_with_400_saying_so():
    rejected = rejection(b"[" * 100_000 + b"]" * 100_000)

    assert rejected.status == 400
    assert "nested more than 200 levels deep" in rejected.reason


@pytest.mark.parametrize("header", ["sha256=\u00e9\u00e9", "sha256=\udcff", "\u00ff" * 71])
def test_a_signature_header_that_is_not_ascii_does_not_match(header):
    assert not signature_matches(SECRET, b"{}", header)
