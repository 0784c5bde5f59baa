"""Response documents of GET /notifications/deliveries."""

from __future__ import annotations

from pydantic import BaseModel


class DeliveryAttempt(BaseModel):
    """One HTTP attempt; attempts of one notification to one URL share `delivery_id`."""

    id: int
    delivery_id: str
    event: str
    task_name: str | None = None
    task_id: str | None = None
    url: str
    attempt: int
    at: str
    ok: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    outcome: str | None = None  # "delivered" or "gave_up" on the last attempt, null when another follows


class DeliveryPage(BaseModel):
    success: bool
    deliveries: list[DeliveryAttempt]
    count: int
    next_before: int | None = None
