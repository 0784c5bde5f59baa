"""What /docs tells a newcomer, and the error bodies they get, on the suite's real API."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import httpx
import jwt

import pytest
from config.settings import get_settings

SHIPPED_DOMAINS = ("maintenance.", "toolbox.")


def shipped_tasks() -> dict[str, Any]:
    from config.celery_config import discovered_tasks

    return {name: task for name, task in discovered_tasks.items() if name.startswith(SHIPPED_DOMAINS)}


def test_every_shipped_task_parameter_has_a_description() -> None:
    missing = [f"{name}.{field}" for name, task in shipped_tasks().items()
               for field, schema in task.params_model.model_json_schema().get("properties", {}).items()
               if not str(schema.get("description", "")).strip()]
    assert len(shipped_tasks()) >= 10
    assert not missing


async def test_openapi_carries_descriptions_and_the_whole_docstring(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    for name, task in shipped_tasks().items():
        model = document["components"]["schemas"][task.params_model.__name__]
        assert all(p.get("description") for p in model.get("properties", {}).values()), name
    purge = shipped_tasks()["maintenance.purge_runs"]
    operation = document["paths"]["/tasks/execute/purge-runs"]["post"]
    assert operation["description"] == inspect.getdoc(purge._decorated_fun)
    assert "SCHEDULE_RUN_RETENTION_DAYS" in operation["description"]  # a line past the first


async def test_the_authorize_box_says_where_a_token_comes_from(anonymous: httpx.AsyncClient) -> None:
    bearer = (await anonymous.get("/openapi.json")).json()["components"]["securitySchemes"]["bearer"]
    assert "uv run toolbox token" in bearer["description"] and "var/up.env" in bearer["description"]


async def test_only_routes_that_need_a_token_show_a_padlock(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    default = document.get("security", [])
    checked = 0
    for path, operations in document["paths"].items():
        if "{" in path:
            continue
        for method, operation in operations.items():
            padlock = bool(operation.get("security", default))
            answer = await anonymous.request(method.upper(), path)
            assert padlock == (answer.status_code == 401), (method, path, answer.status_code)
            checked += 1
    assert checked >= 10
    assert not document["paths"]["/health"]["get"].get("security", default)
    assert not document["paths"]["/metrics"]["get"].get("security", default)


async def test_docs_reference_only_the_api_itself(anonymous: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await anonymous.get(page)).text
        assert not re.search(r"https?://", html), page
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert ref.startswith("/"), ref
            assert (await anonymous.get(ref)).status_code == 200, ref


@pytest.mark.parametrize("kind", ["garbage", "wrong_secret", "alg_none", "other_issuer", "expired", "no_scheme",
                                  "missing"])
async def test_token_errors_are_sentences(anonymous: httpx.AsyncClient, mint: Callable[..., str], kind: str) -> None:
    claims = {"sub": "mallory", "role": "admin", "exp": 4102444800, "iss": "toolbox"}
    secret = get_settings().auth.jwt_secret
    header = {
        "garbage": lambda: "Bearer abc.def",
        "wrong_secret": lambda: "Bearer " + jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256"),
        "alg_none": lambda: "Bearer " + jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        "other_issuer": lambda: "Bearer " + jwt.encode({**claims, "iss": "elsewhere"}, secret, algorithm="HS256"),
        "expired": lambda: "Bearer " + mint("viewer", ttl_s=-10),
        "no_scheme": lambda: "Token abc",
        "missing": lambda: "",
    }[kind]()
    response = await anonymous.get("/tasks/available", headers={"Authorization": header} if header else {})
    body = response.json()
    assert response.status_code == 401 and body["errors"] == []
    description = body["description"]
    assert description.endswith(".") and len(description.split()) >= 6, description
    assert not re.search(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*Error\b", description), description  # no class names
    assert "toolbox token" in description
