"""Settings of the factoring domain: the ETL inbox (`ETL_*`) and the exchange-rate provider (`RATES_*`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from config.settings import get_settings


class EtlSettings(BaseSettings):
    """Where CSV batches arrive: one sub-folder per batch under `ETL_INBOX`."""

    model_config = SettingsConfigDict(env_prefix="ETL_", extra="ignore")

    inbox: Path | None = None

    def inbox_path(self) -> Path:
        """`ETL_INBOX`, or `<VAR_DIR>/etl/inbox` so `toolbox up`, the demo and the tests agree by default."""
        return (self.inbox or get_settings().var_dir / "etl" / "inbox").resolve()


class RatesSettings(BaseSettings):
    """USD/PEN rate provider: `RATES_PROVIDER=http` (JSON API) or `csv` (a file, used by the demo)."""

    model_config = SettingsConfigDict(env_prefix="RATES_", extra="ignore")

    provider: Literal["http", "csv"] = "http"
    # HTTP: `{start}` and `{end}` (ISO dates) are filled in; the answer holds a list of rates
    # at `items_field` (dotted path; empty: the body itself is the list).
    http_url: str = "http://127.0.0.1:8080/rates?from={start}&to={end}"
    http_token: str = ""
    items_field: str = "rates"
    date_field: str = "date"
    buy_field: str = "buy"
    sell_field: str = "sell"
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 0.5
    max_days_per_request: int = 31
    # CSV: columns date,buy,sell with a header line.
    csv_path: Path | None = None


@lru_cache(maxsize=1)
def get_etl_settings() -> EtlSettings:
    """The ETL settings, read from the environment once per process."""
    return EtlSettings()


@lru_cache(maxsize=1)
def get_rates_settings() -> RatesSettings:
    """The rate-provider settings, read from the environment once per process."""
    return RatesSettings()
