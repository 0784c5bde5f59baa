"""The six toolbox tasks through the real API and a real worker: validation, the demo flow, failures."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import pytest
from factories.inbox import Inbox
from services.demo_data import write_batch
from support.polling import wait_for_status


@pytest.mark.parametrize(("task", "body", "field", "kind"), [
    ("kpi", {"date_from": "2024-02-01", "date_to": "2024-01-31"}, "date_to", "value_error"),
    ("kpi", {"date_from": "2024-02-30"}, "date_from", "date_from_datetime_parsing"),
    ("kpi-acumulado", {"year": 1999}, "year", "greater_than_equal"),
    ("kpi-acumulado", {"year": 2101}, "year", "less_than_equal"),
    ("tablas-cxc", {"as_of": "yesterday"}, "as_of", "date_from_datetime_parsing"),
    ("tipo-cambio", {"date_from": "2024-03-10", "date_to": "2024-03-01"}, "date_to", "value_error"),
    ("etl", {"batch": "../../etc"}, "batch", "string_pattern_mismatch"),
    ("tablas-reportes", {"anything": 1}, "anything", "extra_forbidden"),
])
async def test_bad_parameters_are_422(client: httpx.AsyncClient, task: str, body: dict[str, Any], field: str,
                                      kind: str) -> None:
    response = await client.post(f"/tasks/execute/{task}", json=body)

    assert response.status_code == 422, response.text
    assert {(e["field"], e["type"]) for e in response.json()["errors"]} == {(field, kind)}


async def run(client: httpx.AsyncClient, task: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/tasks/execute/{task}", json=body)
    assert response.status_code == 202, response.text
    return await wait_for_status(client, response.json()["task_id"], timeout=120)


async def test_demo_flow_from_csv_to_receivables(client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection,
                                                 inbox: Inbox) -> None:
    folder = inbox.root / "e2e-demo"
    inbox.created.append(folder)
    write_batch(folder, 300, seed=11)
    rates_csv = Path(os.environ["RATES_CSV_PATH"])  # what the worker reads (see conftest)
    rates_csv.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "exchange_rates.csv", rates_csv)

    etl = await run(client, "etl", {"batch": "e2e-demo"})
    assert etl["status"] == "SUCCESS", etl
    assert etl["result"]["batches"]["e2e-demo"]["operations"] == {"loaded": 300, "updated": 0, "rejected": 0}
    assert etl["result"]["totals"]["rejected"] == 0

    rates = await run(client, "tipo-cambio", {"date_from": "2022-12-01", "date_to": "2025-12-31"})
    assert rates["status"] == "SUCCESS", rates
    assert rates["result"]["provider"] == "csv" and rates["result"]["inserted"] > 600

    kpi = await run(client, "kpi", {"date_from": "2024-01-01", "date_to": "2024-01-31"})
    assert kpi["status"] == "SUCCESS", kpi
    assert kpi["progress"] is None and kpi["result"]["rows_inserted"] > 0
    yearly = await run(client, "kpi-acumulado", {"year": 2024})
    assert yearly["result"]["rows_inserted"] == 12
    report = await run(client, "tablas-reportes", {})
    counted = await db.fetchval("select count(*) from operations where status <> 'cancelled'")
    assert report["result"]["rows_inserted"] == counted
    cxc = await run(client, "tablas-cxc", {"as_of": "2025-03-31"})
    assert cxc["status"] == "SUCCESS", cxc

    # the January placements agree between the daily and the monthly table
    daily = await db.fetchval("select sum(placements_count) from kpi_daily where day between '2024-01-01' and '2024-01-31'")
    assert daily == await db.fetchval("select placements_count from kpi_monthly where year = 2024 and month = 1")
    detail = await db.fetchval("select sum(outstanding_pen) from receivables")
    assert detail == await db.fetchval("select sum(outstanding_pen) from receivables_by_client") > Decimal(0)
    assert cxc["result"]["operations"] == await db.fetchval("select count(*) from receivables")


async def test_a_missing_rate_fails_the_run_with_the_date(client: httpx.AsyncClient, worker: Any,
                                                          db: asyncpg.Connection) -> None:
    client_id = await db.fetchval("insert into clients (tax_id, name) values ('1', 'C') returning id")
    debtor_id = await db.fetchval("insert into debtors (tax_id, name) values ('2', 'D') returning id")
    await db.execute("insert into operations (code, client_id, debtor_id, currency, face_value, advance_pct, "
                     "monthly_rate, commission, disbursed_on, due_on, status) values "
                     "('U1', $1, $2, 'USD', 100, 90, 0.02, 0, '2024-05-06', '2024-06-05', 'active')",
                     client_id, debtor_id)

    status = await run(client, "kpi", {"date_from": "2024-05-01", "date_to": "2024-05-31"})

    assert status["status"] == "FAILURE"
    assert "no USD/PEN exchange rate on or before 2024-05-06" in status["error"]
