"""toolbox.tablas_cxc: balances at a date, aging buckets at every boundary, summaries per debtor and client."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.progress import FailingProgress, InjectedFailure, RecordingProgress
from schemas.errors import MissingExchangeRateError
from services.factoring.receivables import rebuild_receivables

AS_OF = date(2024, 6, 30)  # a Sunday: the Friday rate applies
DETAIL = "select code, outstanding, outstanding_pen, days_past_due, bucket from receivables order by code"
SUMMARY = ("select s.name, s.as_of, s.operations, s.outstanding_pen, s.current_pen, s.due_1_30_pen, s.due_31_60_pen, "
           "s.due_61_90_pen, s.due_90_plus_pen from {table} s order by s.name")


async def aged_portfolio(data: FactoringData) -> None:
    await data.rate(date(2024, 6, 28), sell="3.7500", buy="3.7400")
    c1, c2 = await data.client("C1"), await data.client("C2")
    d1, d2 = await data.debtor("D1"), await data.debtor("D2")
    start = date(2024, 1, 2)

    async def op(code: str, days_past_due: int, client: int, debtor: int, **kw: str) -> int:
        kw.setdefault("face_value", "100.00")
        return await data.operation(code=code, client=client, debtor=debtor, disbursed_on=kw.pop("disbursed", start),
                                    due_on=AS_OF - timedelta(days=days_past_due), **kw)  # type: ignore[arg-type]

    r0 = await op("R00", 0, c1, d1)
    await data.payment(r0, date(2024, 6, 1), "30.00")
    await op("R01", 1, c1, d1)
    await op("R30", 30, c1, d1)
    await op("R31", 31, c1, d1)
    await op("R60", 60, c2, d2)
    await op("R61", 61, c2, d2)
    await op("R90", 90, c2, d2)
    await op("R91", 91, c2, d2)
    rf = await op("RFX", -5, c2, d1, currency="USD", face_value="1000.00")
    await data.payment(rf, date(2024, 6, 15), "250.00")
    rl = await op("RLT", 20, c1, d2)
    await data.payment(rl, date(2024, 7, 2), "100.00")  # after the as-of date: still owed then
    rp = await op("RPD", 29, c1, d1)
    await data.payment(rp, date(2024, 6, 1), "60.00")
    await data.payment(rp, date(2024, 6, 2), "40.00")  # fully paid: no row
    await op("RDL", -40, c1, d1, disbursed=date(2024, 7, 1))  # disbursed after the as-of date
    await op("RCX", 45, c1, d1, status="cancelled")


def detail(code: str, outstanding: str, pen: str, days: int, bucket: str) -> dict[str, object]:
    return {"code": code, "outstanding": D(outstanding), "outstanding_pen": D(pen), "days_past_due": days,
            "bucket": bucket}


def summary(name: str, n: int, total: str, *buckets: str) -> dict[str, object]:
    cols = ("current_pen", "due_1_30_pen", "due_31_60_pen", "due_61_90_pen", "due_90_plus_pen")
    return {"name": name, "as_of": AS_OF, "operations": n, "outstanding_pen": D(total),
            **{c: D(v) for c, v in zip(cols, buckets, strict=True)}}


async def test_buckets_at_each_boundary_and_summaries(repositories: RepositoryFactory, data: FactoringData) -> None:
    await aged_portfolio(data)

    result = await rebuild_receivables(repositories, RecordingProgress(), AS_OF)

    assert await data.rows(DETAIL) == [
        detail("R00", "70.00", "70.00", 0, "current"),
        detail("R01", "100.00", "100.00", 1, "1-30"),
        detail("R30", "100.00", "100.00", 30, "1-30"),
        detail("R31", "100.00", "100.00", 31, "31-60"),
        detail("R60", "100.00", "100.00", 60, "31-60"),
        detail("R61", "100.00", "100.00", 61, "61-90"),
        detail("R90", "100.00", "100.00", 90, "61-90"),
        detail("R91", "100.00", "100.00", 91, "90+"),
        detail("RFX", "750.00", "2812.50", 0, "current"),  # due 5 days after the as-of date: 0 days past due
        detail("RLT", "100.00", "100.00", 20, "1-30"),
    ]
    assert await data.rows(SUMMARY.format(table="receivables_by_debtor")) == [
        summary("D1", 5, "3182.50", "2882.50", "200.00", "100.00", "0.00", "0.00"),
        summary("D2", 5, "500.00", "0.00", "100.00", "100.00", "200.00", "100.00"),
    ]
    assert await data.rows(SUMMARY.format(table="receivables_by_client")) == [
        summary("C1", 5, "470.00", "70.00", "300.00", "100.00", "0.00", "0.00"),
        summary("C2", 5, "3212.50", "2812.50", "0.00", "100.00", "200.00", "100.00"),
    ]
    assert result["operations"] == 10
    assert result["buckets"]["current"] == {"operations": 2, "outstanding_pen": "2882.50"}


async def test_the_snapshot_is_replaced_whole_and_survives_a_failure(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await aged_portfolio(data)
    await rebuild_receivables(repositories, RecordingProgress(), date(2024, 7, 31))
    await rebuild_receivables(repositories, RecordingProgress(), AS_OF)
    before = await data.rows(DETAIL)
    assert await data.db.fetchval("select count(distinct as_of) from receivables") == 1
    assert await data.db.fetchval("select min(as_of) from receivables_by_debtor") == AS_OF

    with pytest.raises(InjectedFailure):
        # dies after the new detail rows are in, before the summaries are rebuilt
        await rebuild_receivables(repositories, FailingProgress("summarising"), date(2024, 7, 31))

    assert await data.rows(DETAIL) == before
    assert await data.db.fetchval("select count(*) from receivables_by_client where as_of = $1", AS_OF) == 2


async def test_no_rate_on_or_before_the_as_of_date_fails(repositories: RepositoryFactory, data: FactoringData) -> None:
    await aged_portfolio(data)
    with pytest.raises(MissingExchangeRateError, match="on or before 2024-06-27"):
        await rebuild_receivables(repositories, RecordingProgress(), date(2024, 6, 27))


async def test_an_operation_not_yet_due_is_zero_days_past_due(repositories: RepositoryFactory,
                                                             data: FactoringData) -> None:
    await data.rate(date(2024, 6, 28), sell="3.7500")
    c, d = await data.client("C1"), await data.debtor("D1")
    for code, due_on in (("DUE_TOMORROW", date(2024, 7, 1)), ("DUE_NEXT_YEAR", date(2025, 6, 30)),
                         ("DUE_TODAY", AS_OF), ("DUE_YESTERDAY", date(2024, 6, 29))):
        await data.operation(code=code, client=c, debtor=d, disbursed_on=date(2024, 6, 1), due_on=due_on,
                             face_value="10.00")

    await rebuild_receivables(repositories, RecordingProgress(), AS_OF)

    assert await data.rows("select code, days_past_due, bucket from receivables order by due_on") == [
        {"code": "DUE_YESTERDAY", "days_past_due": 1, "bucket": "1-30"},
        {"code": "DUE_TODAY", "days_past_due": 0, "bucket": "current"},
        {"code": "DUE_TOMORROW", "days_past_due": 0, "bucket": "current"},
        {"code": "DUE_NEXT_YEAR", "days_past_due": 0, "bucket": "current"},
    ]
