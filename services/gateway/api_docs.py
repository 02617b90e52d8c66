"""GET /docs: Swagger UI from the installed fastapi-offline package, never from a CDN.

Users paste API tokens into this page, so it loads nothing from another origin and runs
under a Content-Security-Policy that allows this origin's files and the page's one inline
script (by its hash). ReDoc is not served: it needs inline styles and workers, and Swagger
UI documents the same schema.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
MEDIA_TYPES = {  # the files served: Swagger UI's bundle, its styles and an icon
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


def content_security_policy(html: str) -> str:
    """This origin only, plus the inline scripts of `html` by hash; no framing."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


@router.get(DOCS_PATH)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters={**(request.app.swagger_ui_parameters or {}), "validatorUrl": None},
    )
    html = bytes(page.body).decode()
    page.headers["Content-Security-Policy"] = content_security_policy(html)
    page.headers["Cache-Control"] = "no-cache"
    return page


@router.get(ASSETS_PATH + "/{name}")
def swagger_ui_asset(name: str) -> FileResponse:
    if name not in MEDIA_TYPES:
        raise HTTPException(404, "no such documentation file")
    return FileResponse(
        ASSETS / name,
        media_type=MEDIA_TYPES[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )
