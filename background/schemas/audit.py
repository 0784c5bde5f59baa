"""Response documents of GET /audit."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AuditEventRow(BaseModel):
    """One recorded action: who (token subject), when, what, on which task/run, from which address."""

    id: int
    at: str
    actor: str | None = None
    action: str
    task_name: str | None = None
    task_id: str | None = None
    params: Any = None
    client: str | None = None
    detail: Any = None


class AuditPage(BaseModel):
    success: bool
    events: list[AuditEventRow]
    count: int
    limit: int
    next_cursor: str | None = None
