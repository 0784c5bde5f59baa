"""Hand-built factoring data for tests: parties, operations, payments and exchange rates."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import asyncpg

_codes = itertools.count(1)


class FactoringData:
    """Inserts rows straight into the test database, with the defaults a test does not care about."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    async def client(self, name: str = "Cliente", tax_id: str | None = None) -> int:
        return int(await self.db.fetchval(
            "insert into clients (tax_id, name) values ($1, $2) returning id", tax_id or f"C{next(_codes):010d}", name))

    async def debtor(self, name: str = "Deudor", tax_id: str | None = None) -> int:
        return int(await self.db.fetchval(
            "insert into debtors (tax_id, name) values ($1, $2) returning id", tax_id or f"D{next(_codes):010d}", name))

    async def operation(self, *, client: int, debtor: int, disbursed_on: date, due_on: date, face_value: str,
                        currency: str = "PEN", advance_pct: str = "100", monthly_rate: str = "0",
                        commission: str = "0", status: str = "active", code: str | None = None) -> int:
        return int(await self.db.fetchval(
            "insert into operations (code, client_id, debtor_id, currency, face_value, advance_pct, monthly_rate, "
            "commission, disbursed_on, due_on, status) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
            "returning id",
            code or f"OP{next(_codes):08d}", client, debtor, currency, Decimal(face_value), Decimal(advance_pct),
            Decimal(monthly_rate), Decimal(commission), disbursed_on, due_on, status))

    async def payment(self, operation: int, paid_on: date, amount: str) -> None:
        await self.db.execute("insert into payments (code, operation_id, paid_on, amount) values ($1, $2, $3, $4)",
                              f"PY{next(_codes):08d}", operation, paid_on, Decimal(amount))

    async def rate(self, day: date, sell: str, buy: str | None = None) -> None:
        await self.db.execute("insert into exchange_rates (rate_date, buy, sell, source) values ($1, $2, $3, 'test')",
                              day, Decimal(buy or sell), Decimal(sell))

    async def rows(self, query: str, *args: object) -> list[dict[str, object]]:
        """Rows of a query as plain dicts (for comparing with hand-written expectations)."""
        return [dict(r) for r in await self.db.fetch(query, *args)]
