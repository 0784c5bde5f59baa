"""Every route of the app against every role: 401 without a valid token, 403 below the route's role.

Routes come from the live OpenAPI document, so a route added later is checked without editing
this file; its expected role follows the README (reads: viewer, actions: operator) unless listed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx

ROLES = ("viewer", "operator", "admin")
RANK = {None: 0, "viewer": 1, "operator": 2, "admin": 3}
PUBLIC = {"/health", "/health/ready", "/metrics"}
# Routes whose role is not the default of their method.
OVERRIDES: dict[tuple[str, str], str] = {("GET", "/audit"): "admin", ("GET", "/notifications/deliveries"): "operator"}
# A body no endpoint accepts (every body model forbids unknown fields): an allowed call is refused
# with a 4xx after authentication, so nothing is enqueued, revoked or paused by this test.
PROBE_BODY = {"__role_probe__": True}


def required_role(method: str, path: str) -> str | None:
    if path in PUBLIC:
        return None
    return OVERRIDES.get((method, path), "viewer" if method == "GET" else "operator")


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_every_route_enforces_its_role(api_url: str, mint: Callable[..., str]) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        spec = (await http.get("/openapi.json")).json()
        routes = [(method.upper(), path) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")]
        assert ("GET", "/tasks/runs") in routes and ("POST", "/tasks/{task_id}/revoke") in routes
        tokens: dict[str | None, dict[str, str]] = {None: {}}
        tokens.update({role: {"Authorization": f"Bearer {mint(role, f'roles-{role}')}"} for role in ROLES})
        bad = {"Authorization": "Bearer not.a.token"}
        failures: list[str] = []
        for method, path in routes:
            need = required_role(method, path)
            url = concrete(path)
            body: dict[str, Any] = {"json": PROBE_BODY} if method != "GET" else {}
            for role, headers in [*tokens.items(), ("bad-token", bad)]:
                status = (await http.request(method, url, headers=headers, **body)).status_code
                rank = RANK.get(role, 0)
                if need is None:
                    expected_ok = status not in (401, 403)
                elif role is None or role == "bad-token":
                    expected_ok = status == 401
                elif rank < RANK[need]:
                    expected_ok = status == 403
                else:
                    expected_ok = status not in (401, 403) and status < 500
                if not expected_ok:
                    failures.append(f"{method} {path} as {role}: {status} (needs {need})")
        assert not failures, "\n".join(failures)
