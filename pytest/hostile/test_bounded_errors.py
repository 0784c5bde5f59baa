"""A 422 lists a bounded number of field errors, and says how many it left out."""

from __future__ import annotations

import httpx
import orjson

from support.error_shape import assert_error


async def test_50000_unknown_keys_give_a_small_422_that_counts_them(client: httpx.AsyncClient) -> None:
    body = orjson.dumps({f"k{i}": 1 for i in range(50_000)})
    response = await client.post("/tasks/execute/ping", content=body, headers={"content-type": "application/json"})
    error = assert_error(response, 422, "invalid_parameters")
    assert len(response.content) < 20_000
    assert len(error["errors"]) == 50
    assert [e["field"] for e in error["errors"][:3]] == ["k0", "k1", "k2"]
    assert {e["type"] for e in error["errors"]} == {"extra_forbidden"}
    assert error["description"].startswith("50000 errors, the first 50 listed (49950 left out).")


async def test_a_few_errors_are_all_listed(client: httpx.AsyncClient) -> None:
    response = await client.post("/tasks/execute/ping", json={"a": 1, "b": 2, "echo": 3})
    error = assert_error(response, 422, "invalid_parameters")
    assert {e["field"] for e in error["errors"]} == {"a", "b", "echo"}
    assert "left out" not in error["description"]
