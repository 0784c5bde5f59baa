"""The one error hierarchy. Rendered into SPEC §4's error shape by routers/errors.py."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error a user can act on: a machine code, a one-line message and an HTTP status."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, description: str = "", errors: list[dict[str, Any]] | None = None,
                 code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.description = description
        self.errors = errors
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFoundError(AppError):
    status = 404
    code = "not_found"


class TaskNotFoundError(NotFoundError):
    code = "task_not_found"


class RunNotFoundError(NotFoundError):
    code = "run_not_found"


class InvalidParametersError(AppError):
    status = 422
    code = "invalid_parameters"


class ConflictError(AppError):
    status = 409
    code = "conflict"


class AuthenticationError(AppError):
    status = 401
    code = "not_authenticated"


class PermissionDeniedError(AppError):
    status = 403
    code = "forbidden"


class ServiceUnavailableError(AppError):
    status = 503
    code = "service_unavailable"


class BrokerUnavailableError(ServiceUnavailableError):
    code = "broker_unavailable"


class DatabaseUnavailableError(ServiceUnavailableError):
    code = "database_unavailable"


class PayloadTooLargeError(AppError):
    status = 413
    code = "payload_too_large"


class SingleRunActiveError(ConflictError):
    code = "single_run_active"


class ScheduleNotFoundError(NotFoundError):
    code = "schedule_not_found"


class IdempotencyKeyReusedError(ConflictError):
    code = "idempotency_key_reused"


class IdempotencyInProgressError(ConflictError):
    code = "idempotency_in_progress"


class EtlBatchNotFoundError(NotFoundError):
    code = "etl_batch_not_found"
