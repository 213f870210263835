"""``web/`` over HTTP on the gateway's port: files inside the folder only, with safe headers."""

from __future__ import annotations

import mimetypes
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

from chatbot import web_assets

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_response(web_dir: Path | None, raw_path: str) -> Response:
    """The file of ``web_dir`` (resolved) that ``raw_path`` names, a /vendor/ library, or 404."""
    path = urlsplit(raw_path).path
    if web_dir is None:
        return response(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain")
    if path.startswith("/" + web_assets.VENDOR_PREFIX):
        # Only the page's pinned libraries, by name, from node_modules (chatbot.web_assets).
        name = path.removeprefix("/" + web_assets.VENDOR_PREFIX)
        asset = web_assets.vendor_file(name)
        if asset is None:
            return response(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain")
        return response(HTTPStatus.OK, asset.read_bytes(), web_assets.content_type(name))
    relative = "index.html" if path in ("", "/") else path.lstrip("/")
    target = (web_dir / relative).resolve()
    if not target.is_relative_to(web_dir) or not target.is_file():
        return response(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain")
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return response(HTTPStatus.OK, target.read_bytes(), content_type)


def json_response(body: bytes) -> Response:
    """A JSON document the gateway computes (never cached: it changes as it is read)."""
    reply = response(HTTPStatus.OK, body, "application/json")
    # Headers holds every value a name is given: replace the files' "no-cache", not add to it.
    del reply.headers["Cache-Control"]
    reply.headers["Cache-Control"] = "no-store"
    return reply


def response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body))})
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    return Response(status.value, status.phrase, headers, body)
