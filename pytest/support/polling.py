"""Waiting on a run through the real status endpoint."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

TERMINAL = {"SUCCESS", "FAILURE", "REVOKED"}


async def wait_for_status(client: httpx.AsyncClient, task_id: str, states: set[str] | None = None,
                          timeout: float = 60.0) -> dict[str, Any]:
    """Poll GET /tasks/status/<id> until the status is in `states` (default: terminal)."""
    wanted = states or TERMINAL
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/tasks/status/{task_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in wanted:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {task_id} never reached {sorted(wanted)}; last seen: {body}")
