"""USD/PEN rates from an HTTP JSON API: URL template and field names from settings, retries with backoff."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from config.domain_settings import RatesSettings
from repositories.exchange_rates import RateRow
from schemas.errors import RateProviderError

log = logging.getLogger(__name__)


def _field(item: Any, name: str, index: int) -> Any:
    if not isinstance(item, dict) or name not in item:
        raise RateProviderError("malformed rate payload", description=f"item {index} has no field {name!r}")
    return item[name]


def rate_decimal(value: Any, what: str) -> Decimal:
    """A rate as a positive Decimal with 4 decimals; RateProviderError naming `what` otherwise."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RateProviderError("malformed rate payload", description=f"{what} is not a number: {value!r}") from None
    if not number.is_finite() or number <= 0 or number >= Decimal("1000000"):
        raise RateProviderError("malformed rate payload", description=f"{what} out of range: {value!r}")
    return number.quantize(Decimal("0.0001"))


def parse_rates(body: Any, settings: RatesSettings) -> list[RateRow]:
    """The rates of a JSON answer; RateProviderError names what is wrong with a malformed one."""
    items = body
    for part in filter(None, settings.items_field.split(".")):
        if not isinstance(items, dict) or part not in items:
            raise RateProviderError("malformed rate payload", description=f"no field {settings.items_field!r}")
        items = items[part]
    if not isinstance(items, list):
        raise RateProviderError("malformed rate payload", description="the rates are not a list")
    rows = []
    for i, item in enumerate(items):
        raw_date = _field(item, settings.date_field, i)
        try:
            day = date.fromisoformat(str(raw_date)[:10])
        except ValueError:
            raise RateProviderError("malformed rate payload", description=f"item {i}: bad date {raw_date!r}") from None
        rows.append(RateRow(day, rate_decimal(_field(item, settings.buy_field, i), f"item {i} buy"),
                            rate_decimal(_field(item, settings.sell_field, i), f"item {i} sell")))
    return rows


class HttpRateProvider:
    """Fetches a date range in chunks of `max_days_per_request` days."""

    name = "http"

    def __init__(self, settings: RatesSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport

    async def fetch(self, start: date, end: date) -> list[RateRow]:
        """Every rate the provider publishes in [start, end]; days without one (holidays) are simply absent."""
        s = self.settings
        headers = {"Accept": "application/json"}
        if s.http_token:
            headers["Authorization"] = f"Bearer {s.http_token}"
        rows: list[RateRow] = []
        async with httpx.AsyncClient(timeout=s.timeout_s, headers=headers, transport=self._transport) as client:
            chunk_start = start
            while chunk_start <= end:
                chunk_end = min(end, chunk_start + timedelta(days=s.max_days_per_request - 1))
                url = s.http_url.format(start=chunk_start.isoformat(), end=chunk_end.isoformat())
                found = parse_rates(await self._get(client, url), s)
                rows += [r for r in found if chunk_start <= r.rate_date <= chunk_end]
                chunk_start = chunk_end + timedelta(days=1)
        return rows

    async def _get(self, client: httpx.AsyncClient, url: str) -> Any:
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = await client.get(url)
            except httpx.TransportError as exc:  # timeouts and refused connections are worth retrying
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    try:
                        return response.json()
                    except ValueError:
                        raise RateProviderError("malformed rate payload", description="the body is not JSON") from None
                if response.status_code < 500:
                    raise RateProviderError(f"rate provider refused the request: HTTP {response.status_code}",
                                            description=response.text[:300])
                failure = f"HTTP {response.status_code}"
            if attempt == attempts:
                raise RateProviderError(f"rate provider failed after {attempts} attempts: {failure}")
            delay = self.settings.backoff_s * 2 ** (attempt - 1)
            log.warning("rate provider attempt %s/%s failed (%s); retrying in %.1fs", attempt, attempts, failure, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")
