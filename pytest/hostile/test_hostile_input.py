"""Hostile input by hand: each gets its clear 4xx in the error shape, and nothing runs.

Complements pytest/api/test_error_shape.py (plain malformed JSON, a JSON array/string/null/number
body, a body just over the limit, a missing/expired/forged/`alg: none` token), which is not repeated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import jwt

import pytest
from config.settings import get_settings
from support.error_shape import assert_error, raw_request

JSON = {"content-type": "application/json"}


@pytest.fixture
async def no_new_runs(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Whatever the test sends, no run may be recorded (and so none was enqueued)."""
    before = await db.fetchval("select count(*) from task_runs")
    yield
    assert await db.fetchval("select count(*) from task_runs") == before


# --- bodies --------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    b'{"echo": ',                       # cut short
    b'{"echo": "a"} trailing',          # garbage after the object
    b'{"echo": "\xff\xfe"}',            # not UTF-8
    b"{'echo': 'single quotes'}",
    b"[" * 100_000 + b"]" * 100_000,    # nested past any parser's recursion limit
    b"\x00\x01\x02",
    b'{"echo": "\\ud800"}',           # a lone surrogate escape
], ids=["truncated", "trailing", "not_utf8", "single_quotes", "deep_nesting", "binary", "lone_surrogate"])
async def test_a_body_that_is_not_json_is_400(client: httpx.AsyncClient, no_new_runs: None, payload: bytes) -> None:
    assert_error(await client.post("/tasks/execute/ping", content=payload, headers=JSON), 400, "malformed_json")


@pytest.mark.parametrize("payload", [b'[{"echo": "a"}]', b'"{\\"echo\\": \\"a\\"}"', b"true", b'{"echo": NaN}',
                                     b'{"echo": "a\\u0000b"}'],
                         ids=["array_of_object", "object_as_string", "boolean", "nan", "nul_in_value"])
async def test_a_json_value_that_is_not_an_object_is_422(client: httpx.AsyncClient, no_new_runs: None,
                                                         payload: bytes) -> None:
    assert_error(await client.post("/tasks/execute/ping", content=payload, headers=JSON), 422, "invalid_parameters")


@pytest.mark.parametrize("params", [
    {"echo": "a", "unexpected": 1},
    {"Echo": "a"},                                 # names are exact
    {"repositories": "x"},                         # injected helpers cannot be supplied from outside
    {"progress": {"current": 1}},
    {"__proto__": {"admin": True}},
], ids=["extra", "wrong_case", "injected_repositories", "injected_progress", "proto"])
async def test_unknown_parameters_are_refused_not_ignored(client: httpx.AsyncClient, no_new_runs: None,
                                                          params: dict[str, object]) -> None:
    body = assert_error(await client.post("/tasks/execute/ping", json=params), 422, "invalid_parameters")
    unknown = {name for name in params if name != "echo"}
    assert {(e["field"], e["type"]) for e in body["errors"]} == {(name, "extra_forbidden") for name in unknown}


async def test_a_10_mb_body_is_413(client: httpx.AsyncClient, no_new_runs: None) -> None:
    ten_mb = b'{"echo": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    assert_error(await client.post("/tasks/execute/ping", content=ten_mb, headers=JSON), 413, "payload_too_large")


async def test_a_10_mb_body_streamed_without_a_length_is_413(client: httpx.AsyncClient, no_new_runs: None) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"echo": "'
        for _ in range(160):
            yield b"a" * 65536
        yield b'"}'

    response = await client.post("/tasks/execute/ping", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers  # sent chunked: the limit is counted, not declared
    assert_error(response, 413, "payload_too_large")


# --- task names and run ids ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "..", "../available", "..%2Favailable", "%2E%2E", "maintenance/ping", "maintenance%2Fping", "ping%00",
    "%00", "p%C3%ADng", "%E2%80%AEgnip", "%F0%9F%92%A5", "a" * 10_000,
], ids=["dotdot", "dotdot_slash", "dotdot_encoded_slash", "dotdot_encoded", "slash", "encoded_slash", "nul",
        "only_nul", "accent", "rtl_override", "emoji", "10000_chars"])
async def test_a_hostile_task_name_is_404(api_url: str, mint: Callable[..., str], no_new_runs: None,
                                          name: str) -> None:
    headers = {"Authorization": f"Bearer {mint()}", **JSON}
    response = await asyncio.to_thread(raw_request, api_url, "POST", f"/tasks/execute/{name}", headers, b"{}")
    body = assert_error(response, 404, "task_not_found")
    assert len(body["message"]) < 300  # the name is not echoed back whole


async def test_a_task_name_with_a_line_break_matches_no_route(api_url: str, mint: Callable[..., str],
                                                              no_new_runs: None) -> None:
    headers = {"Authorization": f"Bearer {mint()}", **JSON}
    target = "/tasks/execute/ping%0d%0aX-Injected:%201"
    response = await asyncio.to_thread(raw_request, api_url, "POST", target, headers, b"{}")
    assert_error(response, 404, "not_found")
    assert "x-injected" not in response.headers


@pytest.mark.parametrize(("target", "status", "code"), [
    ("/tasks/status/..%2F..%2Fetc%2Fpasswd", 404, "not_found"),  # a run id never holds a slash
    ("/tasks/status/..", 404, "run_not_found"),
    ("/tasks/status/%F0%9F%92%A5", 404, "run_not_found"),
    ("/tasks/status/*", 404, "run_not_found"),
    ("/tasks/status/%00", 422, "invalid_parameters"),  # PostgreSQL text cannot hold NUL: refused, not a 500
])
async def test_a_hostile_run_id_is_refused(api_url: str, mint: Callable[..., str], target: str, status: int,
                                           code: str) -> None:
    response = await asyncio.to_thread(raw_request, api_url, "GET", target, {"Authorization": f"Bearer {mint()}"})
    assert_error(response, status, code)


async def test_a_10000_character_run_id_is_422(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/tasks/status/" + "a" * 10_000), 422, "invalid_parameters")
    assert [e["field"] for e in body["errors"]] == ["task_id"]


# --- tokens ----------------------------------------------------------------------------------------

def _segment(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "mallory", "role": "admin", "iat": now, "exp": now + 3600, "iss": "toolbox", **changes}


def _sign_hs256(claims: dict[str, object], key: bytes) -> str:
    unsigned = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(claims)}"
    mac = hmac.new(key, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _forge(kind: str, mint: Callable[..., str]) -> str:
    secret = get_settings().auth.jwt_secret
    header, _, signature = mint("viewer", "mallory").split(".")
    return {
        # A real viewer token whose payload was rewritten to admin, signature kept.
        "escalated_payload": lambda: f"{header}.{_segment(_claims())}.{signature}",
        # `alg: none` spelled the ways naive verifiers accept, with and without a trailing dot.
        "alg_None": lambda: f"{_segment({'alg': 'None', 'typ': 'JWT'})}.{_segment(_claims())}.",
        "alg_NONE_no_dot": lambda: f"{_segment({'alg': 'NONE', 'typ': 'JWT'})}.{_segment(_claims())}",
        # Right secret, another algorithm than the configured one.
        "hs512": lambda: jwt.encode(_claims(), secret, algorithm="HS512"),
        "empty_secret": lambda: _sign_hs256(_claims(), b""),
        "unknown_role": lambda: jwt.encode(_claims(role="superadmin"), secret, algorithm="HS256"),
        "role_list": lambda: jwt.encode(_claims(role=["admin"]), secret, algorithm="HS256"),
        "other_issuer": lambda: jwt.encode(_claims(iss="someone-else"), secret, algorithm="HS256"),
        "no_expiry": lambda: jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, secret, algorithm="HS256"),
        "not_yet_valid": lambda: jwt.encode(_claims(nbf=int(time.time()) + 3600), secret, algorithm="HS256"),
        "expiry_as_text": lambda: jwt.encode(_claims(exp="tomorrow"), secret, algorithm="HS256"),
        "two_parts": lambda: f"{header}.{signature}",
        "huge": lambda: "a" * 6000,
    }[kind]()


@pytest.mark.parametrize("kind", ["escalated_payload", "alg_None", "alg_NONE_no_dot", "hs512", "empty_secret",
                                  "unknown_role", "role_list", "other_issuer", "no_expiry", "not_yet_valid",
                                  "expiry_as_text", "two_parts", "huge"])
async def test_a_forged_token_is_401(anonymous: httpx.AsyncClient, mint: Callable[..., str], no_new_runs: None,
                                     kind: str) -> None:
    response = await anonymous.post("/tasks/execute/ping", json={},
                                    headers={"Authorization": f"Bearer {_forge(kind, mint)}"})
    assert_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_expired_admin_token_cannot_launch_anything(anonymous: httpx.AsyncClient, mint: Callable[..., str],
                                                             no_new_runs: None) -> None:
    headers = {"Authorization": f"Bearer {mint('admin', ttl_s=-1)}"}
    assert_error(await anonymous.post("/tasks/execute/ping", json={}, headers=headers), 401, "token_expired")


@pytest.mark.parametrize("value", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Token abc.def.ghi", "bearer"])
async def test_a_malformed_authorization_header_is_401(anonymous: httpx.AsyncClient, no_new_runs: None,
                                                       value: str) -> None:
    assert_error(await anonymous.post("/tasks/execute/ping", json={}, headers={"Authorization": value}), 401,
                 "not_authenticated")


async def test_a_viewer_token_cannot_launch(anonymous: httpx.AsyncClient, mint: Callable[..., str],
                                            no_new_runs: None) -> None:
    headers = {"Authorization": f"Bearer {mint('viewer')}"}
    assert_error(await anonymous.post("/tasks/execute/ping", json={}, headers=headers), 403, "forbidden")
