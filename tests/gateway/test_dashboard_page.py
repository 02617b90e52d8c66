"""The dashboard page and its modules, served by the gateway with strict security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.gateway.app import create_app
from services.gateway.routes.dashboard import ROOT

IMPORT = re.compile(r"""^import .* from "(\.{1,2}/[^"]+)";$""", re.MULTILINE)


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(workdir=tmp_path))) as test_client:
        yield test_client


def test_the_root_serves_the_dashboard_page_with_security_headers(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/ui/app.js"></script>' in response.text
    assert '<main id="main"' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_page_has_no_inline_script_or_style_the_policy_would_block(client):
    page = client.get("/").text

    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None
    assert "<style" not in page and " style=" not in page
    assert re.search(r"\son[a-z]+=", page) is None


def test_every_module_the_dashboard_imports_is_served_as_javascript(client):
    pending, seen = ["app.js"], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        response = client.get(f"/ui/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "script-src 'self'" in response.headers["content-security-policy"]
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        for target in IMPORT.findall(response.text):
            path = (ROOT / folder / target).resolve().relative_to(ROOT)
            pending.append(path.as_posix())

    assert {"app.js", "api.js", "live.js", "views/services.js", "views/run.js"} <= seen


def test_the_stylesheet_is_served_as_css(client):
    response = client.get("/ui/style.css")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/missing.js",
        "/ui/%2e%2e/routes/dashboard.py",
        "/ui/%2e%2e/%2e%2e/gateway/app.py",
        "/ui/views",
    ],
)
def test_nothing_outside_the_dashboards_files_is_served(client, path):
    assert client.get(path).status_code == 404


def test_the_api_keeps_its_routes_and_the_page_stays_out_of_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]

    assert "/" not in paths and "/ui/{asset}" not in paths
    assert {"/api/v1/runs", "/api/v1/services", "/api/v1/rollbacks"} <= set(paths)
    assert {"/api/v1/delivery-metrics", "/api/v1/events/stream"} <= set(paths)
    assert client.get("/healthz").status_code == 200
