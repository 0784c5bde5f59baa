"""toolbox.kpi_acumulado: month KPIs, year-to-date sums, outstanding and delinquency at month end."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.progress import FailingProgress, InjectedFailure, RecordingProgress
from schemas.errors import MissingExchangeRateError
from services.factoring.kpi import rebuild_monthly

QUERY = "select * from kpi_monthly where year = $1 order by month"


async def portfolio_2024(data: FactoringData) -> None:
    await data.rate(date(2023, 12, 29), sell="3.5000")
    await data.rate(date(2024, 1, 31), sell="3.6000")
    await data.rate(date(2024, 2, 28), sell="3.7000")  # nothing later: every later month end uses 3.70
    c, d = await data.client(), await data.debtor()
    # settled before 2024: never outstanding in the year
    p0 = await data.operation(client=c, debtor=d, face_value="300.00", disbursed_on=date(2023, 11, 1),
                              due_on=date(2023, 11, 30))
    await data.payment(p0, date(2023, 11, 30), "300.00")
    # from 2023, partly paid in January, settled in March; 46 days past due at the end of February
    p1 = await data.operation(client=c, debtor=d, face_value="1000.00", advance_pct="90", monthly_rate="0.02",
                              disbursed_on=date(2023, 12, 15), due_on=date(2024, 1, 14))
    await data.payment(p1, date(2024, 1, 10), "400.00")
    await data.payment(p1, date(2024, 3, 5), "600.00")
    # USD never paid: placed at 3.50 (rate of 2023-12-29), outstanding at each month end's rate
    await data.operation(client=c, debtor=d, currency="USD", face_value="200.00", monthly_rate="0.03",
                         commission="5.00", disbursed_on=date(2024, 1, 20), due_on=date(2024, 2, 19))
    p2 = await data.operation(client=c, debtor=d, face_value="500.00", advance_pct="80", monthly_rate="0.01",
                              disbursed_on=date(2024, 2, 10), due_on=date(2024, 2, 25))
    await data.payment(p2, date(2024, 2, 20), "100.00")
    await data.operation(client=c, debtor=d, face_value="700.00", status="cancelled",
                         disbursed_on=date(2024, 1, 5), due_on=date(2024, 2, 4))
    # overdue boundary: at 2024-05-31 one is 31 days past due (delinquent), the other 30 (not yet)
    await data.operation(client=c, debtor=d, face_value="100.00", disbursed_on=date(2024, 4, 1),
                         due_on=date(2024, 4, 30))
    await data.operation(client=c, debtor=d, face_value="50.00", disbursed_on=date(2024, 4, 1),
                         due_on=date(2024, 5, 1))
    await data.operation(client=c, debtor=d, face_value="999.00", disbursed_on=date(2025, 1, 2),
                         due_on=date(2025, 2, 1))


def month(m: int, month_kpis: tuple[int, str, str, str, str], ytd: tuple[int, str, str, str, str],
          outstanding: str, overdue: str, ratio: str) -> dict[str, object]:
    n, placements, financed, income, collections = month_kpis
    yn, yplacements, yfinanced, yincome, ycollections = ytd
    return {"year": 2024, "month": m, "placements_count": n, "placements_pen": D(placements),
            "financed_pen": D(financed), "expected_income_pen": D(income), "collections_pen": D(collections),
            "ytd_placements_count": yn, "ytd_placements_pen": D(yplacements), "ytd_financed_pen": D(yfinanced),
            "ytd_expected_income_pen": D(yincome), "ytd_collections_pen": D(ycollections),
            "outstanding_pen": D(outstanding), "overdue_30_pen": D(overdue), "delinquency_ratio": D(ratio)}


NONE = (0, "0.00", "0.00", "0.00", "0.00")
FULL_YTD = (4, "1350.00", "1250.00", "40.50", "1100.00")
EXPECTED = [
    month(1, (1, "700.00", "700.00", "38.50", "400.00"), (1, "700.00", "700.00", "38.50", "400.00"),
          "1320.00", "0.00", "0"),
    month(2, (1, "500.00", "400.00", "2.00", "100.00"), (2, "1200.00", "1100.00", "40.50", "500.00"),
          "1740.00", "600.00", "0.344828"),
    month(3, (0, "0.00", "0.00", "0.00", "600.00"), (2, "1200.00", "1100.00", "40.50", "1100.00"),
          "1140.00", "1140.00", "1.000000"),
    month(4, (2, "150.00", "150.00", "0.00", "0.00"), FULL_YTD, "1290.00", "1140.00", "0.883721"),
    month(5, NONE, FULL_YTD, "1290.00", "1240.00", "0.961240"),
    *[month(m, NONE, FULL_YTD, "1290.00", "1290.00", "1.000000") for m in range(6, 13)],
]


async def test_twelve_months_with_ytd_sums_outstanding_and_delinquency(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await portfolio_2024(data)

    result = await rebuild_monthly(repositories, RecordingProgress(), 2024)

    assert result == {"year": 2024, "rows_deleted": 0, "rows_inserted": 12}
    assert await data.rows(QUERY, 2024) == EXPECTED


async def test_rerun_is_identical_and_a_failure_midway_keeps_the_old_year(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await portfolio_2024(data)
    await rebuild_monthly(repositories, RecordingProgress(), 2024)
    await rebuild_monthly(repositories, RecordingProgress(), 2024)
    assert await data.rows(QUERY, 2024) == EXPECTED

    await data.db.execute("update operations set face_value = 5000 where face_value = 100")
    with pytest.raises(InjectedFailure):
        await rebuild_monthly(repositories, FailingProgress("computing"), 2024)

    assert await data.rows(QUERY, 2024) == EXPECTED


async def test_a_year_long_after_the_operations_carries_what_is_still_unpaid(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    # every date of the portfolio is years before 2030 (months taken from date_part, not the lookup)
    await portfolio_2024(data)

    await rebuild_monthly(repositories, RecordingProgress(), 2030)

    rows = await data.rows(QUERY, 2030)
    # unpaid: USD 200 at 3.70, 400 of the 500, the 100 and the 50, the 999 of 2025; all long overdue
    assert {(r["placements_count"], r["ytd_collections_pen"], r["outstanding_pen"], r["overdue_30_pen"],
             r["delinquency_ratio"]) for r in rows} == {(0, D("0.00"), D("2289.00"), D("2289.00"), D("1.000000"))}


async def test_an_empty_year_has_twelve_zero_rows(repositories: RepositoryFactory, data: FactoringData) -> None:
    await rebuild_monthly(repositories, RecordingProgress(), 2030)

    rows = await data.rows(QUERY, 2030)
    assert [r["month"] for r in rows] == list(range(1, 13))
    assert {(r["placements_count"], r["outstanding_pen"], r["delinquency_ratio"]) for r in rows} == {(0, D(0), D(0))}


async def test_an_overpaid_operation_is_settled_and_never_negative(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    c, d = await data.client(), await data.debtor()
    # 1000 due 2024-02-09: 600 in February, 600 in March (settled, 200 over), 50 more in May
    a = await data.operation(client=c, debtor=d, face_value="1000.00", disbursed_on=date(2024, 1, 10),
                             due_on=date(2024, 2, 9))
    await data.payment(a, date(2024, 2, 15), "600.00")
    await data.payment(a, date(2024, 3, 10), "600.00")
    await data.payment(a, date(2024, 5, 5), "50.00")
    # 500 due 2024-01-20: 40 days past due at the end of February, 300 paid in March and April
    b = await data.operation(client=c, debtor=d, face_value="500.00", disbursed_on=date(2024, 1, 5),
                             due_on=date(2024, 1, 20))
    await data.payment(b, date(2024, 3, 20), "300.00")
    await data.payment(b, date(2024, 4, 10), "300.00")

    await rebuild_monthly(repositories, RecordingProgress(), 2024)

    rows = await data.rows(QUERY, 2024)
    assert [(r["month"], r["outstanding_pen"], r["overdue_30_pen"], r["delinquency_ratio"]) for r in rows] == [
        (1, D("1500.00"), D("0.00"), D("0")),
        (2, D("900.00"), D("500.00"), D("0.555556")),
        (3, D("200.00"), D("200.00"), D("1.000000")),
        *[(m, D("0.00"), D("0.00"), D("0")) for m in range(4, 13)],
    ]
    assert [r["collections_pen"] for r in rows[:5]] == [D("0.00"), D("600.00"), D("900.00"), D("300.00"), D("50.00")]


async def test_a_usd_date_before_every_rate_fails_naming_the_date(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await data.rate(date(2024, 3, 1), sell="3.7000")  # the first rate comes after 2024-01-01
    c, d = await data.client(), await data.debtor()
    await data.operation(client=c, debtor=d, face_value="100.00", disbursed_on=date(2024, 1, 5),
                         due_on=date(2024, 2, 5))  # PEN: needs no rate
    await data.operation(client=c, debtor=d, currency="USD", face_value="100.00", disbursed_on=date(2024, 2, 10),
                         due_on=date(2024, 3, 10))

    with pytest.raises(MissingExchangeRateError, match="no USD/PEN exchange rate on or before 2024-02-10"):
        await rebuild_monthly(repositories, RecordingProgress(), 2024)
