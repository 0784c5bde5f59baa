"""Business rules of the factoring reports, stated once.

The rebuilds run as set-based SQL (repositories/), but the numbers that define them live here:
which operations count, the day-count basis, the overdue threshold, the aging buckets, and how
a missing exchange rate is judged. Repositories receive them as bound parameters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from config.settings import get_settings
from schemas.errors import InvalidParametersError, MissingExchangeRateError

# Cancelled operations (and their payments) count nowhere.
EXCLUDED_STATUS = "cancelled"
# expected income = financed x monthly_rate x term_days / DAY_COUNT + commission
DAY_COUNT = 30
# Delinquent: more than this many days past due at month end.
OVERDUE_DAYS = 30


@dataclass(frozen=True, slots=True)
class AgingBucket:
    """Days past due up to `max_days` (inclusive; None: no upper bound) fall in `label`."""

    label: str
    max_days: int | None
    column: str  # the summary tables' column for this bucket


# Ordered: the first bucket whose max_days is >= the days past due wins.
AGING_BUCKETS: tuple[AgingBucket, ...] = (
    AgingBucket("current", 0, "current_pen"),
    AgingBucket("1-30", 30, "due_1_30_pen"),
    AgingBucket("31-60", 60, "due_31_60_pen"),
    AgingBucket("61-90", 90, "due_61_90_pen"),
    AgingBucket("90+", None, "due_90_plus_pen"),
)


async def ensure_rates_from(first_day: date, earliest_rate: date | None,
                            earliest_needed: Callable[[], Awaitable[date | None]]) -> None:
    """`ensure_rates` for conversions on `first_day` or later: a rate on or before `first_day`
    converts them all, so only without one is the earliest needed date looked up (a query over
    the operations and their payments)."""
    if earliest_rate is None or earliest_rate > first_day:
        ensure_rates(await earliest_needed(), earliest_rate)


def ensure_rates(earliest_needed: date | None, earliest_rate: date | None) -> None:
    """Raise unless every needed date has a rate on or before it.

    A date has a usable rate iff some rate exists on or before it, so checking the earliest
    needed date against the earliest stored rate covers the whole set in one comparison.
    """
    if earliest_needed is None:
        return
    if earliest_rate is None or earliest_needed < earliest_rate:
        raise MissingExchangeRateError.on(earliest_needed)


def today() -> date:
    """Today in the business time zone (the schedules' zone, America/Lima by default)."""
    return datetime.now(ZoneInfo(get_settings().schedules.timezone)).date()


def default_range(date_from: date | None, date_to: date | None, days: int) -> tuple[date, date]:
    """Missing ends of a range: `date_to` today, `date_from` so the range spans `days` days."""
    end = date_to or (date_from + timedelta(days=days - 1) if date_from and date_from > today() else today())
    start = date_from or end - timedelta(days=days - 1)
    if start > end:
        raise InvalidParametersError(f"date_from {start} is after date_to {end}")
    return start, end
