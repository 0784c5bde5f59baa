"""toolbox.etl dates: only plain YYYY-MM-DD calendar dates of 1900-2199 load, on both staging paths,
and what loads never makes a rebuild fail."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.inbox import Inbox
from factories.progress import RecordingProgress
from repositories.etl import EtlRepository
from repositories.etl_files import CSV_FILES
from services.factoring.etl import run_etl
from services.factoring.kpi import rebuild_daily, rebuild_monthly
from services.factoring.receivables import rebuild_receivables
from services.factoring.reports import rebuild_report_operations

# Every form PostgreSQL reads as a date but the README (extract dates: YYYY-MM-DD) does not allow.
NOT_YYYY_MM_DD = ["2025-05-10 BC", "2025-05-10 AD", "infinity", "-infinity", "epoch", "today", "J2460000",
                  "20250610", "2025-06-10T00:00:00", "2025-06-10 00:00", "05/01/2024", "20000-01-01",
                  "2025-6-10"]
# Written right, outside the accepted years.
OUT_OF_RANGE = ["0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"]
# (column, the line's disbursed_on and due_on with {} for the date under test)
OPERATION_DATES = [("disbursed_on", "{},2200-01-01"), ("due_on", "1900-01-01,{}")]

HEADER_OPS = ("code,client_tax_id,debtor_tax_id,currency,face_value,advance_pct,monthly_rate,commission,"
              "disbursed_on,due_on,status")
# The accepted extremes: disbursed on the first day, due on the last, paid on the last.
GOOD_OPS = ["EDGE1,C1,D1,PEN,100,90,0.02,0,1900-01-01,2199-12-31,active",
            "EDGE2,C1,D1,USD,10,90,0.02,0,2199-12-31,2199-12-31,active"]


def reason(column: str, written: str) -> str:
    if written in OUT_OF_RANGE:
        return f"{column} must be between 1900-01-01 and 2199-12-31: {written}"
    return f"{column} is not a date (YYYY-MM-DD): {written}"


def extracts(malformed: bool) -> tuple[str, str, dict[tuple[str, int], str]]:
    """operations.csv and payments.csv with one line per bad date and column, and the expected rejects."""
    expected: dict[tuple[str, int], str] = {}
    ops = [HEADER_OPS, *GOOD_OPS]
    for column, dates in OPERATION_DATES:
        for written in NOT_YYYY_MM_DD + OUT_OF_RANGE:
            ops.append(f"X{len(ops)},C1,D1,PEN,100,90,0.02,0,{dates.format(written)},active")
            expected[("operations", len(ops))] = reason(column, written)
    pays = ["code,operation_code,paid_on,amount", "P1,EDGE1,2199-12-31,40"]
    for written in NOT_YYYY_MM_DD + OUT_OF_RANGE:
        pays.append(f"P{len(pays)},EDGE1,{written},1")
        expected[("payments", len(pays))] = reason("paid_on", written)
    if malformed:  # a short line sends each file down the line-by-line path
        ops.append("BAD,too,few")
        expected[("operations", len(ops))] = "expected 11 fields, found 3"
        pays.append("BAD,few")
        expected[("payments", len(pays))] = "expected 4 fields, found 2"
    return "\n".join(ops), "\n".join(pays), expected


@pytest.mark.parametrize("malformed", [False, True], ids=["copy-parses-the-file", "split-line-by-line"])
async def test_every_other_date_form_is_a_rejected_line_with_its_reason(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox, malformed: bool) -> None:
    operations, payments, expected = extracts(malformed)
    folder = inbox.batch("dates", clients="tax_id,name\nC1,Cliente", debtors="tax_id,name\nD1,Deudor",
                         operations=operations, payments=payments)
    async with repositories.unit_of_work() as uow:  # which path the load takes
        spec = next(s for s in CSV_FILES if s.name == "operations")
        lines = len(operations.splitlines()) - 1
        assert (await uow.repo(EtlRepository).stage_fields(folder / "operations.csv", spec, lines) == []) is (not malformed)

    result = await run_etl(repositories, RecordingProgress(), "dates")

    rejects = {(r["file"], r["line_number"]): r["reason"]
               for r in await data.rows("select file, line_number, reason from etl_rejects")}
    assert rejects == expected
    assert result["batches"]["dates"]["operations"]["loaded"] == 2
    assert await data.rows("select code, disbursed_on, due_on from operations order by code") == [
        {"code": "EDGE1", "disbursed_on": date(1900, 1, 1), "due_on": date(2199, 12, 31)},
        {"code": "EDGE2", "disbursed_on": date(2199, 12, 31), "due_on": date(2199, 12, 31)}]
    assert await data.rows("select code, paid_on from payments") == [{"code": "P1", "paid_on": date(2199, 12, 31)}]


async def test_the_extreme_accepted_dates_rebuild_every_table(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox) -> None:
    operations, payments, _ = extracts(False)
    inbox.batch("edges", clients="tax_id,name\nC1,Cliente", debtors="tax_id,name\nD1,Deudor",
                operations=operations, payments=payments)
    await run_etl(repositories, RecordingProgress(), "edges")
    await data.rate(date(1900, 1, 1), sell="3.5000")

    await rebuild_report_operations(repositories, RecordingProgress())
    assert await data.rows(
        "select code, face_value_pen, financed_pen, term_days, paid_total, last_payment_on "
        "from report_operations order by code") == [
        {"code": "EDGE1", "face_value_pen": D("100.00"), "financed_pen": D("90.00"),
         "term_days": (date(2199, 12, 31) - date(1900, 1, 1)).days, "paid_total": D("40.00"),
         "last_payment_on": date(2199, 12, 31)},
        {"code": "EDGE2", "face_value_pen": D("35.00"), "financed_pen": D("31.50"), "term_days": 0,
         "paid_total": D("0.00"), "last_payment_on": None}]

    # the latest as-of date a run accepts: EDGE1 is not due yet and its payment is still to come
    await rebuild_receivables(repositories, RecordingProgress(), date(2100, 12, 31))
    assert await data.rows("select code, outstanding_pen, days_past_due, bucket from receivables") == [
        {"code": "EDGE1", "outstanding_pen": D("100.00"), "days_past_due": 0, "bucket": "current"}]

    await rebuild_monthly(repositories, RecordingProgress(), 2100)
    assert await data.rows("select month, placements_count, outstanding_pen, overdue_30_pen from kpi_monthly "
                           "where month in (1, 12) order by month") == [
        {"month": 1, "placements_count": 0, "outstanding_pen": D("100.00"), "overdue_30_pen": D("0.00")},
        {"month": 12, "placements_count": 0, "outstanding_pen": D("100.00"), "overdue_30_pen": D("0.00")}]

    daily = await rebuild_daily(repositories, RecordingProgress(), date(2100, 12, 1), date(2100, 12, 31))
    assert daily["rows_inserted"] == 0
