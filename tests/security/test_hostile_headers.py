"""Malformed headers and bodies get a 4xx with a reason, never a 500, and nothing is queued;
/docs loads nothing from another origin and runs under a Content-Security-Policy.

Most attacks run against the gateway in-process on a real Redis (as test_hostile_input.py
does); what depends on the real HTTP server (a Content-Length that is no number, raw bytes in
headers, /docs served from the installed package) runs against `shipline up` (`stack`).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from services.common.settings import Repository, Settings
from services.gateway import gitea, github
from services.gateway.app import create_app
from services.gateway.json_body import MAX_DEPTH
from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.security.test_hostile_input import (
    AUTH,
    REPO,
    SECRET,
    TOKEN,
    nothing_happened,
    push,
)
from tests.stack import WEBHOOK_SECRET, Stack

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
JUST_TOO_DEEP = b"[" * (MAX_DEPTH + 50) + b"]" * (MAX_DEPTH + 50)
DEEP_BODIES = {"array": DEEP_ARRAY, "object": DEEP_OBJECT, "just-too-deep": JUST_TOO_DEEP}
API_ROUTES = [
    "/api/v1/builds",
    "/api/v1/events",
    "/api/v1/deployments",
    "/api/v1/rollbacks",
    "/api/v1/releases",
]
NON_ASCII = "sha256=\u00e9t\u00e9".encode("latin-1")


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[Repository(name=REPO, url="file:///nowhere/a", webhook_secret=SECRET)],
        api_tokens=[TOKEN],
        max_body_bytes=1_000_000,  # the deep bodies fit: the depth, not the size, is refused
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def assert_refused(response: httpx.Response, statuses: tuple[int, ...], redis_client) -> str:
    assert response.status_code in statuses, response.text
    reason = response.json()["error"]["reason"]
    assert reason and response.json()["detail"] == reason
    assert nothing_happened(redis_client)
    return str(reason)


def webhook_headers(provider: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    if provider == "github":
        return {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": github.sign(secret, body),
        }
    if provider == "gitlab":
        return {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret}
    return {
        "X-Gitea-Event": "push",
        "X-Gitea-Delivery": "d-1",
        "X-Gitea-Signature": gitea.sign(secret, body),
    }


# --- headers read before authentication -------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "header"),
    [
        ("github", "X-Hub-Signature-256"),
        ("gitlab", "X-Gitlab-Token"),
        ("gitea", "X-Gitea-Signature"),
    ],
)
@pytest.mark.parametrize("value", [NON_ASCII, b"\xff\xfe\x80", "\u00e9".encode("latin-1")])
def test_a_non_ascii_signature_header_gets_401_and_queues_nothing(
    client, redis_client, provider, header, value
):
    body = push()
    headers = {**webhook_headers(provider, body), header: value}
    response = client.post(f"/webhooks/{provider}", content=body, headers=headers)
    reason = assert_refused(response, (401,), redis_client)
    assert f"missing or invalid {header}" in reason


@pytest.mark.parametrize(
    "delivery", ["a\x01b", "line\nbreak", "tab\there", "with space", "\x7f", "caf\u00e9"]
)
def test_a_delivery_id_with_control_or_non_ascii_characters_gets_400(
    client, redis_client, delivery
):
    body = push()
    headers = {**webhook_headers("github", body), "X-GitHub-Delivery": delivery.encode("latin-1")}
    response = client.post("/webhooks/github", content=body, headers=headers)
    reason = assert_refused(response, (400,), redis_client)
    assert "X-GitHub-Delivery must be printable ASCII" in reason


@pytest.mark.parametrize(
    "authorization", [b"Bearer \xe9\xff", b"\xe9", "Bearer " + "\u00e9" * 5000, b"Bearer \x00"]
)
def test_a_non_ascii_or_binary_bearer_token_gets_401_or_403(client, redis_client, authorization):
    if isinstance(authorization, str):
        authorization = authorization.encode("latin-1")
    response = client.post(
        "/api/v1/builds",
        json={"repository": REPO, "services": ["user-service"]},
        headers={"Authorization": authorization},
    )
    assert_refused(response, (401, 403), redis_client)


# --- deeply nested JSON ------------------------------------------------------------------------


@pytest.mark.parametrize("route", API_ROUTES)
@pytest.mark.parametrize("shape", DEEP_BODIES)
def test_deeply_nested_json_with_a_valid_token_gets_a_4xx_on_every_api_route(
    client, redis_client, route, shape
):
    headers = {**AUTH, "Content-Type": "application/json"}
    response = client.post(route, content=DEEP_BODIES[shape], headers=headers)
    reason = assert_refused(response, (400, 422), redis_client)
    if route != "/api/v1/releases":  # FastAPI parses that one: "error parsing the body"
        assert re.search("nested more than|recursion limit", reason), reason


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
@pytest.mark.parametrize("shape", DEEP_BODIES)
def test_a_correctly_signed_webhook_of_deeply_nested_json_gets_400(
    client, redis_client, provider, shape
):
    body = DEEP_BODIES[shape]
    response = client.post(
        f"/webhooks/{provider}", content=body, headers=webhook_headers(provider, body)
    )
    reason = assert_refused(response, (400,), redis_client)
    assert f"nested more than {MAX_DEPTH} levels deep" in reason


def test_json_nested_within_the_limit_is_still_answered_by_field(client, redis_client):
    body = b'{"repository": ' + b"[" * 50 + b"]" * 50 + b', "services": ["a"]}'
    response = client.post(
        "/api/v1/builds", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert "repository" in assert_refused(response, (422,), redis_client)


# --- security headers and /docs ----------------------------------------------------------------


class _References(HTMLParser):
    """Every URL a page makes the browser load (src, href) and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def page_references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def assert_docs_are_served_from_shipline(get, base: str) -> None:
    docs = get("/docs")
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
    policy = docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert "http" not in policy and "unsafe-inline" not in policy  # no other origin
    assert not re.search(r"https?://|//[a-z]", docs.text.replace(base, ""))
    urls = page_references(docs.text)
    assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls)
    for url in urls:
        assert urlsplit(urljoin(base + "/docs", url)).netloc == urlsplit(base).netloc
        asset = get(urlsplit(url).path)
        assert asset.status_code == 200 and len(asset.content) > 0, url
        assert asset.headers["x-content-type-options"] == "nosniff"


def test_docs_reference_no_other_origin_and_their_assets_are_served_by_the_gateway(client):
    assert_docs_are_served_from_shipline(client.get, "http://testserver")


def test_only_the_documentation_assets_are_served_and_redoc_is_off(client):
    assert client.get("/docs/assets/../../pyproject.toml").status_code == 404
    assert client.get("/docs/assets/redoc.standalone.js").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/healthz"), ("GET", "/api/v1/runs"), ("POST", "/webhooks/github"), ("GET", "/nope")],
)
def test_every_answer_carries_the_security_headers(client, method, path):
    response = client.request(method, path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_dashboard_keeps_its_own_content_security_policy(client):
    policy = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy


# --- the real HTTP server ----------------------------------------------------------------------


def raw_request(api: str, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library tidies them) and read the status line."""
    address = urlsplit(api)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return int(answer.split(b" ", 2)[1]), answer


def webhook_request(headers: list[bytes], body: bytes) -> bytes:
    lines = [b"POST /webhooks/github HTTP/1.1", b"Host: 127.0.0.1", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize("length", [b"junk", b"-5", b"1e3", b"\xb2", b"12, 13"])
def test_a_content_length_that_is_no_number_gets_400_from_the_server(stack: Stack, length):
    body = push()
    headers = [b"Content-Length: " + length, b"X-GitHub-Event: push", b"X-GitHub-Delivery: d"]
    status, _ = raw_request(stack.api, webhook_request(headers, body))
    assert status == 400
    assert nothing_happened(stack.redis)


def test_raw_non_ascii_and_control_bytes_in_headers_get_a_4xx_from_the_server(stack: Stack):
    body = push(repo=stack.sample.name)
    signature = github.sign(WEBHOOK_SECRET, body).encode()
    cases = [
        [b"X-Hub-Signature-256: sha256=\xc3\xa9\xff", b"X-GitHub-Delivery: d-1"],
        [b"X-Hub-Signature-256: " + signature, b"X-GitHub-Delivery: a\x01b"],
        [b"X-Hub-Signature-256: " + signature, b"X-GitHub-Delivery: caf\xc3\xa9"],
    ]
    for case in cases:
        headers = [b"Content-Length: %d" % len(body), b"X-GitHub-Event: push", *case]
        status, answer = raw_request(stack.api, webhook_request(headers, body))
        assert 400 <= status < 500, answer
    assert nothing_happened(stack.redis)


def test_the_running_server_serves_docs_from_the_installed_package(stack: Stack):
    with httpx.Client(base_url=stack.api, timeout=10) as http:
        assert_docs_are_served_from_shipline(http.get, stack.api)


def test_swagger_ui_renders_under_its_policy_in_a_browser_loading_only_from_shipline(
    stack: Stack,
):
    loaded: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page()
        tab.on("request", lambda request: loaded.append(request.url))
        tab.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        tab.on(
            "console",
            lambda message: message.type == "error" and problems.append(message.text),
        )
        tab.goto(f"{stack.api}/docs")
        tab.locator(".opblock-summary-path", has_text="/api/v1/builds").first.wait_for()
        tab.get_by_role("button", name="Authorize").first.wait_for()
        browser.close()
    assert problems == []
    assert loaded and all(url.startswith(stack.api + "/") for url in loaded), loaded
