"""USD/PEN rates from a CSV file (date,buy,sell), the provider the demo uses."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from repositories.exchange_rates import RateRow
from schemas.errors import RateProviderError
from services.factoring.rates_http import rate_decimal


class CsvRateProvider:
    """Reads the rates of a date range from a file with a `date,buy,sell` header."""

    name = "csv"

    def __init__(self, path: Path | None) -> None:
        if path is None:
            raise RateProviderError("RATES_CSV_PATH is not set", description="The csv provider needs a file.")
        self.path = path

    async def fetch(self, start: date, end: date) -> list[RateRow]:
        """Rows of the file dated within [start, end]."""
        if not self.path.is_file():
            raise RateProviderError(f"rate file not found: {self.path}")
        rows = []
        # A rate file holds one line per business day: a few thousand lines, read synchronously.
        with self.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"date", "buy", "sell"} <= set(reader.fieldnames):
                raise RateProviderError(f"{self.path.name}: the header must be date,buy,sell")
            for line, record in enumerate(reader, start=2):
                try:
                    day = date.fromisoformat(record["date"])
                except (TypeError, ValueError):
                    raise RateProviderError(f"{self.path.name} line {line}: bad date {record['date']!r}") from None
                if start <= day <= end:
                    rows.append(RateRow(day, rate_decimal(record["buy"], f"line {line} buy"),
                                        rate_decimal(record["sell"], f"line {line} sell")))
        return rows
