"""Liveness and readiness (no auth)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from routers.dependencies import State
from schemas.responses import JSONBytesResponse, dumps

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, Any]:
    """The API process is up."""
    return {"success": True, "status": "ok"}


async def _check(coro: Any, timeout: float = 1.5) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


@router.get("/health/ready")
async def ready(state: State) -> Response:
    """Whether PostgreSQL and Redis answer; 503 if either does not."""

    async def database() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("select 1"))

    checks = dict(zip(("database", "redis"), await asyncio.gather(_check(database()), _check(state.redis.ping()))))
    ok = all(check["ok"] for check in checks.values())
    return JSONBytesResponse(dumps({"success": ok, "status": "ready" if ok else "not_ready", "checks": checks}),
                             status_code=200 if ok else 503)
