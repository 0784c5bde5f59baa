"""Fixtures of the factoring domain tests: a repository factory in the test's loop, data builders, cleanup."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg

import pytest
from factories.factoring import FactoringData
from factories.inbox import Inbox


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """After the root conftest set VAR_DIR: the worker and API (started later) inherit a CSV rate provider.

    The end-to-end tests sync rates from a file, as the demo does; the HTTP provider is tested
    against a local server in test_rates.py.
    """
    os.environ.setdefault("RATES_PROVIDER", "csv")
    os.environ.setdefault("RATES_CSV_PATH", os.path.join(os.environ["VAR_DIR"], "rates", "exchange_rates.csv"))

DOMAIN_TABLES = ("receivables_by_client", "receivables_by_debtor", "receivables", "report_operations", "kpi_monthly",
                 "kpi_daily", "etl_rejects", "etl_batches", "exchange_rates", "payments", "operations", "debtors",
                 "clients")


@pytest.fixture(autouse=True)
async def clean_domain(servers: dict[str, Any]) -> AsyncIterator[None]:
    """Every domain test starts and ends with empty domain tables."""
    conn = await asyncpg.connect(servers["postgres"].dsn)
    try:
        await conn.execute(f"truncate {', '.join(DOMAIN_TABLES)} restart identity")
        yield
        await conn.execute(f"truncate {', '.join(DOMAIN_TABLES)} restart identity")
    finally:
        await conn.close()


@pytest.fixture
def data(db: asyncpg.Connection) -> FactoringData:
    """Builder of hand-made factoring rows."""
    return FactoringData(db)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """The ETL inbox; batches a test writes are deleted after it."""
    from config.domain_settings import get_etl_settings

    box = Inbox(get_etl_settings().inbox_path())
    yield box
    box.clear()
