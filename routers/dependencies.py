"""The one dependencies module of every router: the AppState, the caller's principal and path ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from routers.app_state import AppState
from services.auth import ANONYMOUS_ADMIN, Principal


def app_state(request: Request) -> AppState:
    """The AppState built by the lifespan (main.py). With `built_state`, the only readers of `app.state`."""
    return request.app.state.toolbox  # type: ignore[no-any-return]


def built_state(app: Any) -> AppState | None:
    """The AppState of an ASGI app, None before its lifespan has built it (pure ASGI middlewares)."""
    return getattr(app.state, "toolbox", None)


async def get_state(request: Request) -> AppState:
    """`State`: `async` although it never awaits, since FastAPI runs a plain `def` dependency in
    its thread pool, a thread hand-off on every request for one attribute read."""
    return app_state(request)


State = Annotated[AppState, Depends(get_state)]


def role_required(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks their role."""

    async def dependency(request: Request) -> Principal:
        state = app_state(request)
        if not state.settings.auth.enabled:
            return ANONYMOUS_ADMIN
        principal = state.tokens.verify(request.headers.get("authorization"))
        principal.require(role)
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Principal, Depends(role_required("viewer"))]
Operator = Annotated[Principal, Depends(role_required("operator"))]
Admin = Annotated[Principal, Depends(role_required("admin"))]


# Every `{id}` / `{name}` path segment of every route (run ids, schedule names, and routes added
# later) is this type, so each answers the same clean 422 for what no id can be. A NUL or other
# control character would otherwise reach PostgreSQL (which refuses NUL in text) or a Redis key.
PATH_ID_MAX_LENGTH = 200
PathId = Annotated[str, Path(
    min_length=1, max_length=PATH_ID_MAX_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$",
    description="A run id or task name: 1-200 characters, no control characters.",
)]
def client_address(request: Request) -> str | None:
    """The caller's address as uvicorn saw it (behind a proxy: run uvicorn with --proxy-headers)."""
    return request.client.host if request.client is not None else None


ClientAddress = Annotated[str | None, Depends(client_address)]
