"""The one error hierarchy, and the one list of every machine code a client can get.

One class per code; raise sites pick a class, never a code string. routers/errors.py renders
each into the error shape (README, HTTP API). The codes of plain HTTP errors FastAPI raises itself
(405, 406, ...) are in `HTTP_STATUS_CODES` below.
"""

from __future__ import annotations

from datetime import date
from typing import Any


class AppError(Exception):
    """An error a user can act on: a machine code, a one-line message and an HTTP status."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, description: str = "", errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.description = description
        self.errors = errors


# 400


class MalformedJsonError(AppError):
    code = "malformed_json"


# 401 and 403


class AuthenticationError(AppError):
    status = 401
    code = "not_authenticated"


class TokenExpiredError(AuthenticationError):
    code = "token_expired"


class InvalidTokenError(AuthenticationError):
    code = "invalid_token"


class PermissionDeniedError(AppError):
    status = 403
    code = "forbidden"


# 404


class NotFoundError(AppError):
    status = 404
    code = "not_found"


class TaskNotFoundError(NotFoundError):
    code = "task_not_found"


class RunNotFoundError(NotFoundError):
    code = "run_not_found"


class ScheduleNotFoundError(NotFoundError):
    code = "schedule_not_found"


class EtlBatchNotFoundError(NotFoundError):
    code = "etl_batch_not_found"


# 409


class ConflictError(AppError):
    status = 409
    code = "conflict"


class SingleRunActiveError(ConflictError):
    code = "single_run_active"


class IdempotencyKeyReusedError(ConflictError):
    code = "idempotency_key_reused"


class IdempotencyInProgressError(ConflictError):
    code = "idempotency_in_progress"


class RunFinishedError(ConflictError):
    """A revoke of a run that already ended."""

    code = "run_finished"


class RunRunningError(ConflictError):
    """A plain revoke of a running run (it needs `terminate`)."""

    code = "run_running"


class RunActiveError(ConflictError):
    """A retry of a run that has not ended."""

    code = "run_active"


class MissingExchangeRateError(AppError):
    """A USD amount needs a rate on or before a date for which none exists."""

    status = 409
    code = "missing_exchange_rate"

    @classmethod
    def on(cls, needed: date) -> MissingExchangeRateError:
        """The error for a date with no rate on or before it (the message names the date)."""
        return cls(f"no USD/PEN exchange rate on or before {needed.isoformat()}",
                   description="Load rates first (toolbox.tipo_cambio) for that date or an earlier one.")


# 413 and 422


class PayloadTooLargeError(AppError):
    status = 413
    code = "payload_too_large"


class InvalidParametersError(AppError):
    status = 422
    code = "invalid_parameters"


class EtlError(AppError):
    """A batch cannot be loaded at all (missing file, wrong header, bad batch name)."""

    status = 422
    code = "etl_error"


# 500, 502, 503


class InternalError(AppError):
    """Anything unexpected: logged with its traceback, never detailed to the client."""

    status = 500
    code = "internal_error"


class RateProviderError(AppError):
    """The exchange-rate provider failed or answered something unusable."""

    status = 502
    code = "rate_provider_error"


class ServiceUnavailableError(AppError):
    status = 503
    code = "service_unavailable"


class RedisUnavailableError(ServiceUnavailableError):
    """Redis (the broker, the result backend and every toolbox key) did not answer."""

    code = "broker_unavailable"


class DatabaseUnavailableError(ServiceUnavailableError):
    code = "database_unavailable"

    @classmethod
    def outage(cls) -> DatabaseUnavailableError:
        """PostgreSQL could not be reached: the request did nothing."""
        return cls("The database is unreachable; try again shortly.",
                   description="PostgreSQL did not answer in time, so the request did nothing; "
                               "GET /health/ready shows when it is back.")


# The codes of the HTTP errors Starlette/FastAPI raise themselves (no AppError behind them).
HTTP_STATUS_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
}
HTTP_ERROR_CODE = "http_error"  # any other status Starlette raises
