"""The analyst console: one static page app (plain HTML, CSS and JavaScript in routers/console_static/).

Served with no authentication: the page holds no data; it signs in with a bearer token that the
user pastes (or that `toolbox up`'s link carries in the URL fragment, which no server ever sees)
and sends it in the Authorization header of every API call.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "console_static"
# No third-party origin at all: scripts, styles, images and API calls come from this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def console_page() -> Response:
    """The console's single page."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


def mount_console(app: FastAPI) -> None:
    """`/` serves the page, `/console/*` its scripts and styles."""
    app.include_router(router)
    app.mount("/console", StaticFiles(directory=STATIC), name="console")
