"""GET /tasks/schedules and pause/resume over the API (no Beat needed: the state lives in Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

import pytest

LIMA = ZoneInfo("America/Lima")


@pytest.fixture
async def viewer(api_url: str, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {mint('viewer')}"}) as http:
        yield http


@pytest.fixture
async def resumed(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Leave the retention schedule resumed whatever the test did."""
    yield
    await client.post("/tasks/schedules/maintenance.purge_runs/resume")


def _by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {schedule["name"]: schedule for schedule in body["schedules"]}


async def test_every_scheduled_task_is_listed_with_its_cron_and_next_run(viewer: httpx.AsyncClient) -> None:
    response = await viewer.get("/tasks/schedules")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["timezone"] == "America/Lima" and body["beat_enabled"] is True
    schedules = _by_name(body)
    assert body["total"] == len(schedules)
    assert "maintenance.ping" not in schedules  # declares no schedule
    purge = schedules["maintenance.purge_runs"]
    assert purge["cron"] == "30 3 * * *" and purge["source"] == "task" and purge["timezone"] == "America/Lima"
    assert purge["enabled"] is True and purge["paused"] is False and purge["single_run"] is True
    assert purge["queue"] == "celery" and purge["kwargs"] == {}
    next_run = datetime.fromisoformat(purge["next_run_at"]).astimezone(LIMA)
    assert (next_run.hour, next_run.minute, next_run.second) == (3, 30, 0)
    assert next_run > datetime.now(LIMA)


async def test_the_catalog_shows_the_schedule_in_force(viewer: httpx.AsyncClient) -> None:
    catalog = (await viewer.get("/tasks/available")).json()["available_tasks"]
    assert catalog["purge_runs"]["schedule"] == "30 3 * * *"
    assert catalog["ping"]["schedule"] is None


async def test_an_operator_pauses_and_resumes_a_schedule(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient, resumed: None
) -> None:
    paused = await client.post("/tasks/schedules/purge-runs/pause")  # kebab name works too

    assert paused.status_code == 200, paused.text
    schedule = paused.json()["schedule"]
    assert paused.json()["success"] is True
    assert schedule["name"] == "maintenance.purge_runs"
    assert schedule["paused"] is True and schedule["enabled"] is False and schedule["next_run_at"] is None
    assert schedule["paused_by"] == "tester" and schedule["paused_at"]
    seen = _by_name((await viewer.get("/tasks/schedules")).json())["maintenance.purge_runs"]
    assert seen["paused"] is True and seen["paused_by"] == "tester"
    # Pausing again changes nothing (the first pause is kept).
    again = await client.post("/tasks/schedules/maintenance.purge_runs/pause")
    assert again.status_code == 200 and again.json()["schedule"]["paused_at"] == schedule["paused_at"]

    resumed_response = await client.post("/tasks/schedules/maintenance.purge_runs/resume")

    assert resumed_response.status_code == 200, resumed_response.text
    back = resumed_response.json()["schedule"]
    assert back["paused"] is False and back["enabled"] is True and back["paused_by"] is None
    assert back["next_run_at"] is not None
    assert (await viewer.get("/tasks/schedules/maintenance.purge_runs")).json()["paused"] is False


async def test_unknown_or_unscheduled_names_are_404(client: httpx.AsyncClient) -> None:
    for name in ("no.such_task", "ping"):
        for response in (await client.post(f"/tasks/schedules/{name}/pause"),
                         await client.get(f"/tasks/schedules/{name}")):
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "schedule_not_found"


async def test_viewers_read_schedules_but_only_operators_change_them(
    viewer: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    assert (await anonymous.get("/tasks/schedules")).status_code == 401
    refused = await viewer.post("/tasks/schedules/maintenance.purge_runs/pause")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert _by_name((await viewer.get("/tasks/schedules")).json())["maintenance.purge_runs"]["paused"] is False
