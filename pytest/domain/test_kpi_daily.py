"""toolbox.kpi: daily KPIs per disbursement / payment date, in PEN, by hand-computed numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.progress import FailingProgress, InjectedFailure, RecordingProgress
from schemas.errors import MissingExchangeRateError
from services.factoring.kpi import rebuild_daily

QUERY = ("select day, placements_count, placements_pen, financed_pen, expected_income_pen, collections_pen "
         "from kpi_daily order by day")


def row(day: date, count: int, placements: str, financed: str, income: str, collections: str) -> dict[str, object]:
    return {"day": day, "placements_count": count, "placements_pen": D(placements), "financed_pen": D(financed),
            "expected_income_pen": D(income), "collections_pen": D(collections)}


async def march_portfolio(data: FactoringData) -> dict[str, int]:
    await data.rate(date(2024, 3, 1), sell="3.7000", buy="3.6900")  # Friday
    await data.rate(date(2024, 3, 4), sell="3.8000", buy="3.7900")  # Monday; weekend and 03-05 have none
    client, debtor = await data.client(), await data.debtor()
    # PEN: financed 900; income 900 x 0.02 x 30/30 + 50 = 68
    a = await data.operation(client=client, debtor=debtor, face_value="1000.00", advance_pct="90",
                             monthly_rate="0.020000", commission="50.00",
                             disbursed_on=date(2024, 3, 2), due_on=date(2024, 4, 1))
    # USD on a Sunday: the Friday rate 3.70. face 1850, financed 400 USD = 1480, income (6 + 10) USD = 59.20
    b = await data.operation(client=client, debtor=debtor, currency="USD", face_value="500.00", advance_pct="80",
                             monthly_rate="0.015000", commission="10.00",
                             disbursed_on=date(2024, 3, 3), due_on=date(2024, 4, 2))
    # cancelled: neither the placement nor its payment counts
    c = await data.operation(client=client, debtor=debtor, face_value="9999.00", status="cancelled",
                             disbursed_on=date(2024, 3, 2), due_on=date(2024, 4, 1))
    # 15 days: income 2000 x 0.01 x 15/30 = 10
    await data.operation(client=client, debtor=debtor, face_value="2000.00", monthly_rate="0.010000",
                         disbursed_on=date(2024, 3, 4), due_on=date(2024, 3, 19))
    await data.operation(client=client, debtor=debtor, face_value="7777.00",  # after the range
                         disbursed_on=date(2024, 3, 6), due_on=date(2024, 3, 30))
    await data.payment(a, date(2024, 3, 4), "300.00")  # partial, PEN
    await data.payment(b, date(2024, 3, 4), "100.00")  # USD x 3.80 = 380
    await data.payment(b, date(2024, 3, 5), "50.00")  # no rate on 03-05: 3.80 of 03-04 -> 190
    await data.payment(c, date(2024, 3, 5), "1000.00")
    return {"a": a, "b": b, "client": client, "debtor": debtor}


EXPECTED = [
    row(date(2024, 3, 2), 1, "1000.00", "900.00", "68.00", "0.00"),
    row(date(2024, 3, 3), 1, "1850.00", "1480.00", "59.20", "0.00"),
    row(date(2024, 3, 4), 1, "2000.00", "2000.00", "10.00", "680.00"),
    row(date(2024, 3, 5), 0, "0.00", "0.00", "0.00", "190.00"),
]


async def test_daily_kpis_convert_usd_at_the_latest_rate_and_skip_cancelled(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await march_portfolio(data)
    progress = RecordingProgress()

    result = await rebuild_daily(repositories, progress, date(2024, 3, 1), date(2024, 3, 5))

    assert await data.rows(QUERY) == EXPECTED
    assert result["rows_inserted"] == 4 and result["placements_count"] == 3
    assert result["collections_pen"] == "870.00"
    assert progress.updates[-1][0] == progress.updates[-1][1] == 3


async def test_only_the_range_is_replaced_and_a_rerun_gives_identical_rows(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await march_portfolio(data)
    await data.db.execute("insert into kpi_daily values ('2024-02-01', 9, 9, 9, 9, 9), ('2024-03-01', 5, 5, 5, 5, 5)")

    await rebuild_daily(repositories, RecordingProgress(), date(2024, 3, 1), date(2024, 3, 5))
    first = await data.rows(QUERY)
    await rebuild_daily(repositories, RecordingProgress(), date(2024, 3, 1), date(2024, 3, 5))

    assert await data.rows(QUERY) == first
    # 02-01 lies outside the range and stays; 03-01 had no activity, so its stale row is gone.
    assert first == [row(date(2024, 2, 1), 9, "9", "9", "9", "9"), *EXPECTED]


async def test_a_usd_date_before_every_rate_fails_naming_the_date_and_keeps_the_old_rows(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    ids = await march_portfolio(data)
    await data.db.execute("insert into kpi_daily values ('2024-02-28', 1, 1, 1, 1, 1)")
    await data.operation(client=ids["client"], debtor=ids["debtor"], currency="USD", face_value="10.00",
                         disbursed_on=date(2024, 2, 28), due_on=date(2024, 3, 28))

    with pytest.raises(MissingExchangeRateError, match="no USD/PEN exchange rate on or before 2024-02-28"):
        await rebuild_daily(repositories, RecordingProgress(), date(2024, 2, 1), date(2024, 2, 29))

    assert await data.rows(QUERY) == [row(date(2024, 2, 28), 1, "1", "1", "1", "1")]


async def test_a_failure_midway_leaves_the_previous_rows(repositories: RepositoryFactory, data: FactoringData) -> None:
    ids = await march_portfolio(data)
    await rebuild_daily(repositories, RecordingProgress(), date(2024, 3, 1), date(2024, 3, 5))
    await data.payment(ids["a"], date(2024, 3, 5), "700.00")  # would change 03-05

    with pytest.raises(InjectedFailure):
        # dies after the range was deleted, before the new rows are inserted
        await rebuild_daily(repositories, FailingProgress("computing"), date(2024, 3, 1), date(2024, 3, 5))

    assert await data.rows(QUERY) == EXPECTED
