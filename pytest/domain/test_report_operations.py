"""toolbox.tablas_reportes: one row per counted operation with names, PEN amounts and payments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.progress import FailingProgress, InjectedFailure, RecordingProgress
from services.factoring.reports import rebuild_report_operations

QUERY = ("select code, client_name, debtor_name, currency, face_value, face_value_pen, financed_pen, disbursed_on, "
         "due_on, term_days, status, paid_total, last_payment_on from report_operations order by code")


async def two_operations(data: FactoringData) -> None:
    await data.rate(date(2024, 5, 31), sell="3.7100")
    await data.rate(date(2024, 6, 3), sell="3.7300")
    c, d = await data.client("Textiles SAC"), await data.debtor("Minera SA")
    usd = await data.operation(code="A-USD", client=c, debtor=d, currency="USD", face_value="1000.00",
                               advance_pct="85", disbursed_on=date(2024, 6, 1), due_on=date(2024, 7, 31),
                               status="paid")
    await data.payment(usd, date(2024, 7, 1), "400.00")
    await data.payment(usd, date(2024, 7, 30), "600.00")
    await data.operation(code="B-PEN", client=c, debtor=d, face_value="250.50", advance_pct="90",
                         disbursed_on=date(2024, 6, 3), due_on=date(2024, 6, 18), status="defaulted")
    cancelled = await data.operation(code="C-CAN", client=c, debtor=d, face_value="99.00", status="cancelled",
                                     disbursed_on=date(2024, 6, 3), due_on=date(2024, 6, 18))
    await data.payment(cancelled, date(2024, 6, 4), "99.00")


EXPECTED = [
    # Saturday disbursement: Friday's 3.71. 1000 x 3.71 = 3710; financed 850 x 3.71 = 3153.50
    {"code": "A-USD", "client_name": "Textiles SAC", "debtor_name": "Minera SA", "currency": "USD",
     "face_value": D("1000.00"), "face_value_pen": D("3710.00"), "financed_pen": D("3153.50"),
     "disbursed_on": date(2024, 6, 1), "due_on": date(2024, 7, 31), "term_days": 60, "status": "paid",
     "paid_total": D("1000.00"), "last_payment_on": date(2024, 7, 30)},
    # 250.50 x 0.90 = 225.45
    {"code": "B-PEN", "client_name": "Textiles SAC", "debtor_name": "Minera SA", "currency": "PEN",
     "face_value": D("250.50"), "face_value_pen": D("250.50"), "financed_pen": D("225.45"),
     "disbursed_on": date(2024, 6, 3), "due_on": date(2024, 6, 18), "term_days": 15, "status": "defaulted",
     "paid_total": D("0.00"), "last_payment_on": None},
]


async def test_report_rows_by_hand(repositories: RepositoryFactory, data: FactoringData) -> None:
    await two_operations(data)

    result = await rebuild_report_operations(repositories, RecordingProgress())

    assert await data.rows(QUERY) == EXPECTED
    assert result["rows_inserted"] == 2 and result["face_value_pen"] == "3960.50"


async def test_rerun_identical_and_failure_keeps_the_old_table(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await two_operations(data)
    await rebuild_report_operations(repositories, RecordingProgress())
    await rebuild_report_operations(repositories, RecordingProgress())
    assert await data.rows(QUERY) == EXPECTED

    await data.db.execute("update clients set name = 'Renamed'")
    with pytest.raises(InjectedFailure):
        await rebuild_report_operations(repositories, FailingProgress("computing"))

    assert await data.rows(QUERY) == EXPECTED


async def test_the_swapped_in_tables_have_statistics_for_their_first_readers(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    from services.factoring.receivables import rebuild_receivables

    await two_operations(data)
    await rebuild_report_operations(repositories, RecordingProgress())
    await rebuild_receivables(repositories, RecordingProgress(), date(2024, 7, 15))

    # column statistics exist only once the table was analysed (an index build sets the row count only)
    analysed = await data.rows(
        "select tablename, count(*) > 0 as has_stats from pg_stats where schemaname = 'public' "
        "and tablename in ('report_operations', 'receivables', 'receivables_by_debtor', 'receivables_by_client') "
        "group by tablename order by tablename")
    assert analysed == [{"tablename": t, "has_stats": True} for t in
                        ("receivables", "receivables_by_client", "receivables_by_debtor", "report_operations")]
    assert await data.db.fetchval(
        "select null_frac from pg_stats where tablename = 'report_operations' and attname = 'last_payment_on'") == 0.5


async def test_usd_amounts_take_the_rate_of_their_own_day_from_the_first_rate_to_the_last(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    """The rates reach the rebuild as one array of the calendar's days (`ReportTablesRepository.build_all`):
    the first rate's day, a carried-forward day and the last day each convert at their own rate, rounded
    half away from zero to cents as numeric arithmetic does."""
    from decimal import ROUND_HALF_UP

    rates = {date(2024, 3, 1): "3.7123", date(2024, 3, 4): "3.6999", date(2024, 3, 6): "3.8001"}
    for day, sell in rates.items():
        await data.rate(day, sell=sell)
    c, d = await data.client("Textiles SAC"), await data.debtor("Minera SA")
    cases = {"U1": (date(2024, 3, 1), "333.33"), "U2": (date(2024, 3, 3), "0.01"),
             "U3": (date(2024, 3, 5), "1234567.89"), "U4": (date(2024, 3, 6), "100.05")}
    for code, (day, face) in cases.items():
        await data.operation(code=code, client=c, debtor=d, currency="USD", face_value=face, advance_pct="87.5",
                             disbursed_on=day, due_on=date(2024, 4, 30))

    await rebuild_report_operations(repositories, RecordingProgress())

    def sell_on(day: date) -> D:
        return D(rates[max(r for r in rates if r <= day)])

    cents = D("0.01")
    assert await data.rows("select code, face_value_pen, financed_pen from report_operations order by code") == [
        {"code": code, "face_value_pen": (D(face) * sell_on(day)).quantize(cents, ROUND_HALF_UP),
         "financed_pen": (D(face) * D("87.5") / 100 * sell_on(day)).quantize(cents, ROUND_HALF_UP)}
        for code, (day, face) in cases.items()]


def pen_row(code: str, face: str, paid: str = "0.00", last: date | None = None, client: str = "Textiles SAC",
            status: str = "active") -> dict[str, object]:
    """The report row of a PEN operation of `two_operations`' parties, advanced at 100%, 3 to 18 June 2024."""
    return {"code": code, "client_name": client, "debtor_name": "Minera SA", "currency": "PEN",
            "face_value": D(face), "face_value_pen": D(face), "financed_pen": D(face), "disbursed_on": date(2024, 6, 3),
            "due_on": date(2024, 6, 18), "term_days": 15, "status": status, "paid_total": D(paid),
            "last_payment_on": last}


async def thirty_operations(data: FactoringData) -> list[dict[str, object]]:
    """`two_operations` and 28 PEN ones (P01-P28); their report rows, by code."""
    await two_operations(data)
    c, d = await data.client("Textiles SAC"), await data.debtor("Minera SA")
    for i in range(1, 29):
        await data.operation(code=f"P{i:02d}", client=c, debtor=d, face_value=f"{i}.00",
                             disbursed_on=date(2024, 6, 3), due_on=date(2024, 6, 18))
    return EXPECTED + [pen_row(f"P{i:02d}", f"{i}.00") for i in range(1, 29)]


async def xmins(data: FactoringData) -> dict[str, str]:
    """The transaction that wrote each row of the table, by code."""
    return {r["code"]: r["xmin"] for r in await data.rows("select code, xmin::text from report_operations")}


async def test_a_rerun_deletes_and_inserts_only_the_rows_that_differ(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    """A day's batch: a payment, a cancellation and a new operation out of 30 rows (within REBUILD_SHARE):
    the rerun deletes and inserts those rows and leaves the 28 others as they were written."""
    expected = await thirty_operations(data)
    first = await rebuild_report_operations(repositories, RecordingProgress())
    assert (first["method"], first["rows_deleted"], first["rows_inserted"], first["rows_kept"]) == ("rebuilt", 0, 30, 0)
    written = await xmins(data)

    b_pen = await data.db.fetchval("select id from operations where code = 'B-PEN'")
    await data.payment(b_pen, date(2024, 6, 10), "50.00")
    await data.db.execute("update operations set status = 'cancelled' where code = 'P07'")
    c, d = await data.db.fetchval("select min(id) from clients"), await data.db.fetchval("select min(id) from debtors")
    await data.operation(code="N01", client=c, debtor=d, face_value="77.70", disbursed_on=date(2024, 6, 3),
                         due_on=date(2024, 6, 18))

    progress = RecordingProgress()
    result = await rebuild_report_operations(repositories, progress)

    expected = [pen_row("B-PEN", "250.50", "50.00", date(2024, 6, 10), status="defaulted") | {"financed_pen": D("225.45")}
                if r["code"] == "B-PEN" else r for r in expected if r["code"] != "P07"] + [pen_row("N01", "77.70")]
    assert await data.rows(QUERY) == sorted(expected, key=lambda r: str(r["code"]))
    assert (result["method"], result["rows_deleted"], result["rows_inserted"], result["rows_kept"],
            result["operations"]) == ("changed", 2, 2, 28, 30)
    assert (2, 4, "comparing report_operations with its operations") in progress.updates
    now = await xmins(data)
    assert {code for code in now if now[code] != written.get(code)} == {"B-PEN", "N01"}


async def test_a_rerun_that_would_change_more_than_its_share_rebuilds_the_table(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    expected = await thirty_operations(data)
    await rebuild_report_operations(repositories, RecordingProgress())
    await data.db.execute("update clients set name = 'Renamed'")

    result = await rebuild_report_operations(repositories, RecordingProgress())

    assert await data.rows(QUERY) == [r | {"client_name": "Renamed"} for r in expected]
    assert (result["method"], result["rows_deleted"], result["rows_inserted"], result["rows_kept"]) == (
        "rebuilt", 30, 30, 0)


async def test_a_rerun_that_fails_after_its_changes_leaves_the_table_as_it_was(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    expected = await thirty_operations(data)
    await rebuild_report_operations(repositories, RecordingProgress())
    written = await xmins(data)
    await data.db.execute("update operations set status = 'cancelled' where code in ('P01', 'P02')")

    progress = FailingProgress("totalling")
    with pytest.raises(InjectedFailure):
        await rebuild_report_operations(repositories, progress)

    assert any(m.startswith("changing 2 rows") for _, _, m in progress.updates)
    assert await data.rows(QUERY) == expected
    assert await xmins(data) == written
