"""`Annotated` dependencies shared by routers: the app state and the caller's principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from config.state import AppState
from services.auth import ANONYMOUS_ADMIN, Principal


def get_state(request: Request) -> AppState:
    """The state built by the lifespan."""
    return request.app.state.toolbox  # type: ignore[no-any-return]


State = Annotated[AppState, Depends(get_state)]


def role_required(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks their role."""

    async def dependency(request: Request) -> Principal:
        state: AppState = request.app.state.toolbox
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


def client_address(request: Request) -> str | None:
    """The caller's address as uvicorn saw it (behind a proxy: run uvicorn with --proxy-headers)."""
    return request.client.host if request.client is not None else None


ClientAddress = Annotated[str | None, Depends(client_address)]
