"""ETL batches and their rejected lines over HTTP, page by page, for a viewer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx

import pytest
from support.error_shape import assert_error

BATCH = "zz-console-2024-05-01"


@pytest.fixture
async def batch(db: asyncpg.Connection) -> AsyncIterator[str]:
    await db.execute("insert into etl_batches (name, status, loaded_at, counts) values "
                     "($1, 'loaded', now() + interval '1 day', '{\"operations\": {\"inserted\": 3}}')", BATCH)
    await db.executemany(
        "insert into etl_rejects (batch, file, line_number, reason, raw) values ($1, $2, $3, $4, $5)",
        [(BATCH, "operations.csv", n, f"disbursed_on is not a date written YYYY-MM-DD: '05/0{n}/2024'",
          f"OP-{n},C1,D1,PEN,1000,0.9,0.02,10,05/0{n}/2024,2024-06-30,active") for n in range(2, 9)]
        + [(BATCH, "clients.csv", 4, "missing name", "C9,,PE")])
    try:
        yield BATCH
    finally:
        await db.execute("delete from etl_rejects where batch = $1", BATCH)
        await db.execute("delete from etl_batches where name = $1", BATCH)


async def test_batches_list_the_loads_with_their_reject_counts(api_url: str, mint: Callable[..., str],
                                                               batch: str) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {mint('viewer')}"}) as viewer:
        body = (await viewer.get("/toolbox/etl/batches", params={"limit": 1})).json()
    assert body["batches"][0]["name"] == batch
    assert body["batches"][0]["rejected"] == 8
    assert body["batches"][0]["counts"] == {"operations": {"inserted": 3}}


async def test_rejects_come_in_file_and_line_order_page_by_page(api_url: str, mint: Callable[..., str],
                                                                batch: str) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {mint('viewer')}"}) as viewer:
        seen: list[tuple[str, int]] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            body = (await viewer.get(f"/toolbox/etl/batches/{batch}/rejects", params=params)).json()
            pages += 1
            seen += [(r["file"], r["line_number"]) for r in body["rejects"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == [("clients.csv", 4)] + [("operations.csv", n) for n in range(2, 9)]
        assert body["rejected_by_file"] == {"clients.csv": 1, "operations.csv": 7}
        one = (await viewer.get(f"/toolbox/etl/batches/{batch}/rejects", params={"file": "clients.csv"})).json()
        assert one["rejects"] == [{"file": "clients.csv", "line_number": 4, "line": "C9,,PE", "reason": "missing name"}]
        assert_error(await viewer.get("/toolbox/etl/batches/nope/rejects"), 404, "etl_batch_not_found")
        assert_error(await viewer.get(f"/toolbox/etl/batches/{batch}/rejects", params={"cursor": "garbage"}),
                     422, "invalid_parameters")
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        assert_error(await anonymous.get("/toolbox/etl/batches"), 401, "not_authenticated")
