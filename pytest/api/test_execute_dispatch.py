"""`POST /tasks/execute/<name>`: one route serves every task, and answers as each task's own route did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from background.processors.base import BaseProcessor
from background.processors.discovery import discover_tasks
from background.routers.tasks import build_execute_router
from config.celery_config import celery_app
from support.error_shape import assert_error

UNKNOWN_FIELD = "__not_a_parameter__"


async def _catalog(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    tasks: dict[str, dict[str, Any]] = (await client.get("/tasks/available")).json()["available_tasks"]
    assert tasks
    return tasks


def _aliases(entry: dict[str, Any]) -> list[str]:
    """The task's endpoint and the other names the execute path accepts for it."""
    endpoint = entry["endpoint"]
    short = endpoint.removeprefix("/tasks/execute/")
    return [endpoint, f"/tasks/execute/{short.replace('-', '_')}", f"/tasks/execute/{entry['name']}"]


async def test_every_task_refuses_an_unknown_parameter_by_any_of_its_names(client: httpx.AsyncClient) -> None:
    for key, entry in (await _catalog(client)).items():
        answers = []
        for path in _aliases(entry):
            body = assert_error(await client.post(path, json={UNKNOWN_FIELD: 1}), 422, "invalid_parameters")
            assert body["errors"] == [{"field": UNKNOWN_FIELD, "message": "Extra inputs are not permitted",
                                       "type": "extra_forbidden"}], (key, path)
            answers.append(body)
        assert all(answer == answers[0] for answer in answers), key


async def test_every_task_checks_the_token_and_the_role_before_its_parameters(
    anonymous: httpx.AsyncClient, mint: Callable[..., str]
) -> None:
    viewer = {"Authorization": f"Bearer {mint('viewer', 'reader')}"}
    tasks = (await anonymous.get("/tasks/available", headers=viewer)).json()["available_tasks"]
    for entry in tasks.values():
        endpoint = entry["endpoint"]
        assert_error(await anonymous.post(endpoint, json={UNKNOWN_FIELD: 1}), 401, "not_authenticated")
        assert_error(await anonymous.post(endpoint, json={UNKNOWN_FIELD: 1}, headers=viewer), 403, "forbidden")


async def test_an_unknown_task_is_404_after_the_token_check(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    for path in ("/tasks/execute/nothing-here", "/tasks/execute/maintenance.nothing", "/tasks/execute/a/b"):
        body = assert_error(await client.post(path, json={}), 404, "task_not_found")
        assert "GET /tasks/available" in body["description"]
        assert_error(await anonymous.post(path, json={}), 401, "not_authenticated")


async def test_only_post_is_allowed_on_a_task(client: httpx.AsyncClient) -> None:
    for entry in (await _catalog(client)).values():
        assert_error(await client.get(entry["endpoint"]), 405, "method_not_allowed")


async def test_every_task_keeps_its_own_operation_and_schema_in_openapi(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for entry in (await _catalog(client)).values():
        operation = document["paths"][entry["endpoint"]]["post"]
        reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
        assert schema["properties"].keys() == entry["parameters"].get("properties", {}).keys()
        assert operation["summary"] == f"Run {entry['name']}"
    # The dispatch route itself is not an operation of the document.
    assert not [path for path in document["paths"] if "{" in path and path.startswith("/tasks/execute/")]


def _requests(text: str, route: str, status: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "toolbox_http_requests_total" and sample.labels == {
                    "method": "POST", "route": route, "status": status}:
                return sample.value
    return 0.0


async def test_metrics_count_a_request_under_the_task_endpoint_whichever_name_was_used(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    before = _requests((await anonymous.get("/metrics")).text, "/tasks/execute/table-stats", "422")
    for name in ("table-stats", "table_stats", "maintenance.table_stats"):
        await client.post(f"/tasks/execute/{name}", json={UNKNOWN_FIELD: 1})
    after = _requests((await anonymous.get("/metrics")).text, "/tasks/execute/table-stats", "422")
    assert after == before + 3


def test_one_route_serves_every_task() -> None:
    # The router tries its routes in turn: a route per task made an execute cost grow with the catalog.
    router = build_execute_router(BaseProcessor(discover_tasks(celery_app)))
    assert [(route.path, sorted(route.methods)) for route in router.routes] == [  # type: ignore[attr-defined]
        ("/tasks/execute/{name:path}", ["POST"])]
