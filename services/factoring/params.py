"""Annotated parameter types shared by the factoring tasks (validated by the API and the worker)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo

# Dates outside this window are typos, not history.
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)


def _not_before_date_from(value: date | None, info: ValidationInfo) -> date | None:
    # Fields validate in declaration order, so `date_from` (declared first) is already in info.data.
    start = info.data.get("date_from")
    if value is not None and start is not None and value < start:
        raise ValueError(f"date_to ({value}) must not be before date_from ({start})")
    return value


DateFrom = Annotated[date | None, Field(ge=MIN_DATE, le=MAX_DATE, description="First day (inclusive).")]
DateTo = Annotated[date | None, Field(ge=MIN_DATE, le=MAX_DATE, description="Last day (inclusive), not before date_from."),
                   AfterValidator(_not_before_date_from)]
AsOf = Annotated[date | None, Field(ge=MIN_DATE, le=MAX_DATE, description="Snapshot date (default: today).")]
Year = Annotated[int, Field(ge=2000, le=2100, description="Calendar year.")]
OptionalYear = Annotated[int | None, Field(ge=2000, le=2100, description="Calendar year (default: the current year).")]
BatchName = Annotated[str | None, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                        description="Batch folder in the ETL inbox (default: every pending batch).")]
