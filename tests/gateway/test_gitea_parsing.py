import json

from services.gateway.gitea import HOST, parse_push, sign, signature_matches
from services.gateway.webhook import WebhookRejected
from tests.gateway import payloads
from tests.gateway.payloads import payload

SECRET = "gitea-secret-Zq8pLm2Vx7Rt4Nk9"
DELIVERY = {"x-gitea-delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473"}


def rejection(body: bytes, headers: dict[str, str] = DELIVERY) -> WebhookRejected:
    return payloads.rejection(parse_push, body, headers)


def test_the_signature_is_the_bare_hex_hmac_of_the_body():
    body = payload("gitea", "push.json")
    signature = sign(SECRET, body)

    assert len(signature) == 64 and not signature.startswith("sha256=")
    assert signature_matches(SECRET, body, signature)
    assert signature_matches(SECRET, body, signature.upper())
    assert not signature_matches(SECRET, body + b" ", signature)
    assert not signature_matches("another-secret", body, signature)
    assert not signature_matches(SECRET, body, "sha256=" + signature)
    assert not signature_matches(SECRET, body, None)


def test_only_push_events_are_pushes():
    assert HOST.kind({"x-gitea-event": "push"}) == ("push", "push")
    assert HOST.kind({"x-gitea-event": "create"})[0] == "other"


def test_the_documented_push_parses_without_the_in_body_secret():
    push = parse_push(payload("gitea", "push.json"), DELIVERY, run_id="run-1")

    assert push.provider == "gitea"
    assert push.delivery_id == DELIVERY["x-gitea-delivery"]
    assert push.repository == "gitea/webhooks"
    assert push.ref == "refs/heads/develop"
    assert push.before == "28e1879d029cb852e4844d9c718537df08844e03"
    assert push.after == "bffeb74224043ba2feb48d137756c8a9331c449a"
    assert push.pusher == "gitea"
    [commit] = push.commits
    assert (commit.message, commit.author) == ("Webhooks Yay!", "someone@gitea.io")
    assert commit.added == commit.modified == commit.removed == ()
    assert "3gEsCfjlV2" not in push.model_dump_json()


def test_a_missing_delivery_header_is_rejected_with_400():
    rejected = rejection(payload("gitea", "push.json"), headers={})

    assert rejected.status == 400
    assert "X-Gitea-Delivery" in rejected.reason


def test_a_push_without_a_repository_is_rejected_with_422_naming_it():
    data = json.loads(payload("gitea", "push.json"))
    del data["repository"]

    rejected = rejection(json.dumps(data).encode())

    assert rejected.status == 422
    assert "repository" in rejected.reason


def test_a_signature_header_that_is_not_ascii_does_not_match():
    body = payload("gitea", "push.json")

    assert not signature_matches(SECRET, body, "\u00e9" * 64)
    assert not signature_matches(SECRET, body, sign(SECRET, body) + "\u00ff")
