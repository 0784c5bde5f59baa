"""Every path id of every documented route is validated the same way: a clean 422, never a 500.

The routes are read from the live OpenAPI document, so a route added later is covered too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx

import pytest
from support.error_shape import assert_error

HOSTILE = {
    "nul": "%00",
    "nul_inside": "a%00b",
    "line_break": "a%0Ab",
    "escape_char": "%1B%5B31m",
    "delete_char": "%7F",
    "over_long": "a" * 201,
    "10000_chars": "a" * 10_000,
}


@pytest.fixture
async def admin(api_url: str, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30,
                                 headers={"Authorization": f"Bearer {mint('admin', 'path-tester')}"}) as http:
        yield http


def _routes_with_ids(document: dict[str, object]) -> list[tuple[str, str, list[str]]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    found = []
    for template, operations in paths.items():
        names = re.findall(r"{([^}]+)}", template)
        if names:
            found += [(method.upper(), template, names) for method in operations]
    return found


async def test_every_route_refuses_a_hostile_id_with_422_and_keeps_the_connection(admin: httpx.AsyncClient) -> None:
    routes = _routes_with_ids((await admin.get("/openapi.json")).json())
    covered = {(method, template) for method, template, _ in routes}
    # The routes of the HTTP API with an id in their path (others may add more; they are covered as well).
    assert {("GET", "/tasks/status/{task_id}"), ("POST", "/tasks/{task_id}/revoke"),
            ("POST", "/tasks/{task_id}/retry"), ("GET", "/tasks/schedules/{name}"),
            ("POST", "/tasks/schedules/{name}/pause"), ("POST", "/tasks/schedules/{name}/resume")} <= covered
    seen: dict[str, str] = {}
    for method, template, names in routes:
        for kind, value in HOSTILE.items():
            target = template
            for name in names:
                target = target.replace("{" + name + "}", value)
            response = await admin.request(method, target)
            label = f"{method} {template} [{kind}]"
            body = assert_error(response, 422, "invalid_parameters")
            assert [error["field"] for error in body["errors"]] == names, label
            assert len(response.content) < 5_000, label  # the id is not echoed back whole
            # The connection stays usable: the same client goes on with the next request.
            assert response.headers.get("connection", "").lower() != "close", label
            seen[label] = body["errors"][0]["type"]
    assert all(kind in {"string_pattern_mismatch", "string_too_long"} for kind in seen.values()), seen


async def test_an_ordinary_unknown_id_is_still_404(admin: httpx.AsyncClient) -> None:
    for method, target in [("POST", "/tasks/6b1e5c0e-0000-4000-8000-000000000000/revoke"),
                           ("POST", "/tasks/6b1e5c0e-0000-4000-8000-000000000000/retry")]:
        assert_error(await admin.request(method, target), 404, "run_not_found")
    assert_error(await admin.get("/tasks/schedules/no.such_task"), 404, "schedule_not_found")
