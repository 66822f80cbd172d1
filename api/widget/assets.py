"""Serving the widget's files to any page, on any origin.

Each file is read once and answered with a strong ETag from its content, so every replica gives the same tag for
the same release and a browser revalidates cheaply (304) rather than downloading again. The files are public:
module scripts and stylesheets loaded from another origin are fetched in CORS mode, so they say so with
`Access-Control-Allow-Origin: *` (they carry nothing private, and no credentials are involved).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

from api.errors import ApiError

STATIC = Path(__file__).parent / "static"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
CACHE_CONTROL = "public, max-age=300, must-revalidate"
"""Five minutes without asking, then a revalidation: a new release reaches every page within minutes."""

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def bundle() -> dict[str, Asset]:
    """Every servable file by its URL path; nothing outside `static/` can be named."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        if path.suffix in CONTENT_TYPES and path.is_file():
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            found["/" + path.relative_to(STATIC).as_posix()] = Asset(body, CONTENT_TYPES[path.suffix], etag)
    return found


def version() -> str:
    """One tag for the whole release: what `SupportWidget.version` and the demo page show."""
    digest = hashlib.sha256("".join(a.etag for a in bundle().values()).encode())
    return digest.hexdigest()[:12]


def serve(request: Request, name: str) -> Response:
    asset = bundle().get(name)
    if asset is None:
        raise ApiError(404, "not_found", f"there is no widget file {name}")
    headers = {
        "ETag": asset.etag,
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if asset.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


@router.api_route("/widget.js", methods=["GET", "HEAD"])
async def widget_entry(request: Request) -> Response:
    """The one script a store page includes."""
    return serve(request, "/widget.js")


@router.api_route("/widget/{name:path}", methods=["GET", "HEAD"])
async def widget_module(request: Request, name: str) -> Response:
    """The modules and stylesheet `/widget.js` loads, by their relative paths."""
    return serve(request, f"/widget/{name}")
