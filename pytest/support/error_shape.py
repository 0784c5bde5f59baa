"""The error shape of the README (HTTP API), checked on a real response; and requests sent byte for byte."""

from __future__ import annotations

import http.client
from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """`response` is the error `code` with `status`, in the error shape, with nothing leaked."""
    assert response.status_code == status, f"{response.status_code} {response.text[:2000]}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"] and "\n" not in body["message"]
    assert isinstance(body["description"], str)
    assert isinstance(body["errors"], list)  # always present, empty when there are no field errors
    assert "Traceback" not in response.text
    return body


def raw_request(base_url: str, method: str, target: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> httpx.Response:
    """Send `target` exactly as written (no dot-segment removal, no re-encoding), as a hostile client would."""
    url = httpx.URL(base_url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        answer = connection.getresponse()
        content = answer.read()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=content)
    finally:
        connection.close()
