"""Errors of the factoring domain, in the project's one hierarchy (services.errors.AppError)."""

from __future__ import annotations

from datetime import date

from services.errors import AppError


class MissingExchangeRateError(AppError):
    """A USD amount needs a rate on or before a date for which none exists."""

    status = 409
    code = "missing_exchange_rate"

    @classmethod
    def on(cls, needed: date) -> MissingExchangeRateError:
        """The error for a date with no rate on or before it (the message names the date)."""
        return cls(f"no USD/PEN exchange rate on or before {needed.isoformat()}",
                   description="Load rates first (toolbox.tipo_cambio) for that date or an earlier one.")


class RateProviderError(AppError):
    """The exchange-rate provider failed or answered something unusable."""

    status = 502
    code = "rate_provider_error"


class EtlError(AppError):
    """A batch cannot be loaded at all (missing file, wrong header, bad batch name)."""

    status = 422
    code = "etl_error"
