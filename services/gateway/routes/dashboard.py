"""The dashboard: one HTML page and its static modules, shipped as package data.

Every answer carries a Content-Security-Policy that allows scripts, styles and connections
from this origin only (no inline code), so injected markup in, say, a commit message can
never run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)
ROOT = (Path(__file__).parent.parent / "dashboard").resolve()
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@router.get("/")
def dashboard() -> FileResponse:
    return _file(ROOT / "index.html", cache="no-cache")


@router.get("/ui/{asset:path}")
def dashboard_asset(asset: str) -> FileResponse:
    path = (ROOT / asset).resolve()
    if not path.is_relative_to(ROOT) or not path.is_file() or path.suffix not in MEDIA_TYPES:
        raise HTTPException(404, "no such dashboard file")
    return _file(path, cache="no-cache")


def _file(path: Path, cache: str) -> FileResponse:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache}
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=headers)
