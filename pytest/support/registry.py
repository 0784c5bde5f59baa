"""Arranging rows of the run registry directly, for history and control tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg


async def insert_run(db: asyncpg.Connection, *, task_name: str, status: str = "SUCCESS",
                     submitted_at: datetime | None = None, task_id: str | None = None, origin: str = "api",
                     submitted_by: str | None = "tester", parent_id: str | None = None,
                     params: dict[str, Any] | None = None) -> str:
    """One row as the API and workers would have written it; returns its task id."""
    task_id = task_id or str(uuid.uuid4())
    at = submitted_at or datetime.now(UTC)
    finished = at if status in ("SUCCESS", "FAILURE", "REVOKED") else None
    started = at if status not in ("PENDING",) else None
    await db.execute(
        "insert into task_runs (task_id, task_name, status, params, origin, submitted_by, parent_id, submitted_at,"
        " started_at, finished_at, retries) values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, 0)",
        task_id, task_name, status, json.dumps(params or {}), origin, submitted_by, parent_id, at, started, finished,
    )
    return task_id


async def delete_runs(db: asyncpg.Connection, task_ids: list[str]) -> None:
    """Remove rows a test created (and retries linked to them)."""
    await db.execute("delete from task_runs where task_id = any($1::text[]) or parent_id = any($1::text[])",
                     task_ids)
