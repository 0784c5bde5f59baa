"""Liveness and readiness (no auth)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from routers.app_state import AppState
from routers.dependencies import State
from routers.openapi import PUBLIC
from schemas.responses import JSONBytesResponse, dumps

router = APIRouter(tags=["health"])


@router.get("/health", openapi_extra=PUBLIC)
async def health() -> dict[str, Any]:
    """The API process is up."""
    return {"success": True, "status": "ok"}


async def _check(coro: Any, timeout: float = 1.5) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


@router.get("/health/ready", openapi_extra=PUBLIC)
async def ready(state: State) -> Response:
    """PostgreSQL, Redis and workers, each reported; 503 if PostgreSQL or Redis does not answer.

    No worker answering a ping does not make the API unready (it still accepts and queues runs):
    the answer is 200 with status "degraded" and `checks.workers.ok` false.
    """

    async def database() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("select 1"))

    checks = dict(zip(("database", "redis"), await asyncio.gather(_check(database()), _check(state.redis.ping()))))
    # Asked only when Redis answers: the ping goes through it, and would only wait out its timeout.
    checks["workers"] = await _workers(state) if checks["redis"]["ok"] else {"ok": False, "online": 0,
                                                                            "error": "Redis is unreachable"}
    ok = checks["database"]["ok"] and checks["redis"]["ok"]
    status = "not_ready" if not ok else "ready" if checks["workers"]["ok"] else "degraded"
    return JSONBytesResponse(dumps({"success": ok, "status": status, "checks": checks}),
                             status_code=200 if ok else 503)


async def _workers(state: AppState) -> dict[str, Any]:
    online, error = await state.workers.ping()
    check: dict[str, Any] = {"ok": online > 0, "online": online}
    if error is not None:
        check["error"] = error
    elif online == 0:
        check["error"] = "no worker answered a ping"
    return check
