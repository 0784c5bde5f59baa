"""Every error, FastAPI's own included, answers in the error shape of the README (HTTP API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt

import pytest
from config.settings import get_settings


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "\n" not in body["message"]
    assert isinstance(body["description"], str)
    assert isinstance(body["errors"], list)  # always present
    if status != 422:
        assert body["errors"] == []
    assert "Traceback" not in response.text
    return body


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/no/such/route"), 404, "not_found")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/tasks/available"), 405, "method_not_allowed")


async def test_unknown_task_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/tasks/execute/nothing-here", json={}), 404, "task_not_found")


async def test_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/tasks/status/not-an-issued-id"), 404, "run_not_found")


async def test_invalid_parameters_are_422_with_field_errors(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.post("/tasks/execute/table-stats", json={"min_rows": "many"}), 422,
                        "invalid_parameters")
    assert body["errors"] == [{"field": "min_rows", "message": "Input should be a valid integer, unable to parse "
                               "string as an integer", "type": "int_parsing"}]


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b'"a string"', b"null", b"42"])
async def test_a_body_that_is_not_a_json_object_is_refused(client: httpx.AsyncClient, payload: bytes) -> None:
    response = await client.post("/tasks/execute/table-stats", content=payload,
                                 headers={"content-type": "application/json"})
    if payload == b"{not json":
        assert_error(response, 400, "malformed_json")
    else:
        assert_error(response, 422, "invalid_parameters")


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    too_big = b'{"schema_name": "' + b"a" * (get_settings().max_body_bytes + 10) + b'"}'
    assert_error(await client.post("/tasks/execute/table-stats", content=too_big,
                                   headers={"content-type": "application/json"}), 413, "payload_too_large")


async def test_missing_token_is_401(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/tasks/available")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401(anonymous: httpx.AsyncClient, mint: Callable[..., str]) -> None:
    token = mint("viewer", ttl_s=-10)
    assert_error(await anonymous.get("/tasks/available", headers={"Authorization": f"Bearer {token}"}), 401,
                 "token_expired")


@pytest.mark.parametrize("forgery", ["wrong_secret", "alg_none", "garbage", "no_role"])
async def test_forged_tokens_are_401(anonymous: httpx.AsyncClient, forgery: str) -> None:
    claims = {"sub": "mallory", "role": "admin", "exp": 4102444800, "iss": "toolbox"}
    token = {
        "wrong_secret": lambda: jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256"),
        "alg_none": lambda: jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        "garbage": lambda: "abc.def.ghi",
        "no_role": lambda: jwt.encode({k: v for k, v in claims.items() if k != "role"},
                                      get_settings().auth.jwt_secret, algorithm="HS256"),
    }[forgery]()
    assert_error(await anonymous.get("/tasks/available", headers={"Authorization": f"Bearer {token}"}), 401,
                 "invalid_token")


async def test_health_needs_no_token(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/health")).json() == {"success": True, "status": "ok"}
    ready = await anonymous.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["ok"] is True
    assert ready.json()["checks"]["redis"]["ok"] is True
