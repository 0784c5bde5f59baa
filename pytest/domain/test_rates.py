"""toolbox.tipo_cambio: the HTTP provider against a local server (retries, timeouts, 4xx, bad payloads), the CSV one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from config.domain_settings import RatesSettings
from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.progress import RecordingProgress
from factories.rate_server import RateServer, Reply
from repositories.exchange_rates import RateRow
from schemas.errors import RateProviderError
from services.factoring.rates import sync_rates
from services.factoring.rates_csv import CsvRateProvider
from services.factoring.rates_http import HttpRateProvider

GOOD = {"data": {"items": [{"fecha": "2024-03-01", "compra": "3.6900", "venta": "3.7000"},
                           {"fecha": "2024-03-04", "compra": 3.79, "venta": 3.8}]}}


@pytest.fixture
def server() -> Iterator[RateServer]:
    with RateServer() as running:
        yield running


def provider(server: RateServer, **overrides: object) -> HttpRateProvider:
    values: dict[str, object] = {
        "provider": "http", "http_url": server.url + "/tc?desde={start}&hasta={end}", "items_field": "data.items",
        "date_field": "fecha", "buy_field": "compra", "sell_field": "venta", "timeout_s": 2.0, "retries": 2,
        "backoff_s": 0.01, "max_days_per_request": 31, **overrides}
    return HttpRateProvider(RatesSettings(**values))  # type: ignore[arg-type]


async def test_rates_are_upserted_and_a_refetch_changes_nothing(
        server: RateServer, repositories: RepositoryFactory, data: FactoringData) -> None:
    server.script(Reply(body=GOOD), Reply(body=GOOD))

    first = await sync_rates(repositories, RecordingProgress(), date(2024, 3, 1), date(2024, 3, 5), provider(server))
    second = await sync_rates(repositories, RecordingProgress(), date(2024, 3, 1), date(2024, 3, 5), provider(server))

    assert server.paths == ["/tc?desde=2024-03-01&hasta=2024-03-05"] * 2
    assert (first["fetched"], first["inserted"], first["updated"]) == (2, 2, 0)
    assert (second["inserted"], second["updated"]) == (0, 0)
    assert await data.rows("select rate_date, buy, sell, source from exchange_rates order by rate_date") == [
        {"rate_date": date(2024, 3, 1), "buy": D("3.6900"), "sell": D("3.7000"), "source": "http"},
        {"rate_date": date(2024, 3, 4), "buy": D("3.7900"), "sell": D("3.8000"), "source": "http"}]


async def test_5xx_then_ok_is_retried(server: RateServer) -> None:
    server.script(Reply(503, {"error": "busy"}), Reply(502, b"bad gateway"), Reply(body=GOOD))

    rows = await provider(server).fetch(date(2024, 3, 1), date(2024, 3, 5))

    assert len(server.paths) == 3
    assert rows == [RateRow(date(2024, 3, 1), D("3.6900"), D("3.7000")), RateRow(date(2024, 3, 4), D("3.7900"), D("3.8000"))]


async def test_a_timeout_is_retried(server: RateServer) -> None:
    server.script(Reply(body=GOOD, delay_s=1.5), Reply(body=GOOD))

    rows = await provider(server, timeout_s=0.3).fetch(date(2024, 3, 1), date(2024, 3, 5))

    assert len(rows) == 2 and len(server.paths) == 2


async def test_persistent_5xx_fails_after_the_retries(server: RateServer) -> None:
    server.script(*[Reply(500, {"error": "down"})] * 3)

    with pytest.raises(RateProviderError, match="failed after 3 attempts: HTTP 500"):
        await provider(server).fetch(date(2024, 3, 1), date(2024, 3, 5))


async def test_4xx_fails_at_once(server: RateServer) -> None:
    server.script(Reply(404, {"error": "unknown"}), Reply(body=GOOD))

    with pytest.raises(RateProviderError, match="refused the request: HTTP 404"):
        await provider(server).fetch(date(2024, 3, 1), date(2024, 3, 5))
    assert len(server.paths) == 1


@pytest.mark.parametrize(("body", "detail"), [
    (b"<html>not json</html>", "the body is not JSON"),
    ({"data": {}}, "no field 'data.items'"),
    ({"data": {"items": {"fecha": "2024-03-01"}}}, "the rates are not a list"),
    ({"data": {"items": [{"fecha": "2024-03-01", "compra": "3.69"}]}}, "item 0 has no field 'venta'"),
    ({"data": {"items": [{"fecha": "03/01/2024", "compra": "3.69", "venta": "3.7"}]}}, "bad date"),
    ({"data": {"items": [{"fecha": "2024-03-01", "compra": "x", "venta": "3.7"}]}}, "buy is not a number"),
    ({"data": {"items": [{"fecha": "2024-03-01", "compra": "-1", "venta": "3.7"}]}}, "buy out of range"),
])
async def test_malformed_payloads_fail_clearly(server: RateServer, body: object, detail: str) -> None:
    server.script(Reply(body=body))

    with pytest.raises(RateProviderError, match="malformed rate payload") as failure:
        await provider(server).fetch(date(2024, 3, 1), date(2024, 3, 5))
    assert detail in failure.value.description


async def test_long_ranges_are_fetched_in_chunks(server: RateServer) -> None:
    server.script(Reply(body=GOOD), Reply(body={"data": {"items": []}}))

    await provider(server, max_days_per_request=31).fetch(date(2024, 3, 1), date(2024, 4, 9))

    assert server.paths == ["/tc?desde=2024-03-01&hasta=2024-03-31", "/tc?desde=2024-04-01&hasta=2024-04-09"]


async def test_csv_provider_reads_the_range(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("date,buy,sell\n2024-02-29,3.70,3.71\n2024-03-01,3.69,3.70\n2024-03-04,3.79,3.80\n")

    rows = await CsvRateProvider(path).fetch(date(2024, 3, 1), date(2024, 3, 31))

    assert rows == [RateRow(date(2024, 3, 1), D("3.6900"), D("3.7000")), RateRow(date(2024, 3, 4), D("3.7900"), D("3.8000"))]
