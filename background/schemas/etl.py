"""Response documents of the ETL batch endpoints (published in the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class EtlBatchView(BaseModel):
    name: str
    status: str
    loaded_at: str
    counts: dict[str, Any] | None = None
    error: str | None = None
    rejected: int


class EtlBatchPage(BaseModel):
    success: bool
    batches: list[EtlBatchView]
    next_cursor: str | None = None


class EtlRejectView(BaseModel):
    file: str
    line_number: int
    line: str | None = None
    reason: str


class EtlRejectPage(BaseModel):
    success: bool
    batch: EtlBatchView
    rejected_by_file: dict[str, int]
    rejects: list[EtlRejectView]
    next_cursor: str | None = None
