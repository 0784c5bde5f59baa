"""The one place that turns errors into HTTP answers in the error shape (README, HTTP API)."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from config.structured_logging import mark_logged
from schemas.errors import (
    HTTP_ERROR_CODE,
    HTTP_STATUS_CODES,
    AppError,
    DatabaseUnavailableError,
    InternalError,
    InvalidParametersError,
    MalformedJsonError,
)
from schemas.responses import error_response

log = logging.getLogger("toolbox.api")

# A 422 lists at most this many field errors (a body of 50,000 unknown keys would otherwise
# answer megabytes); its description says how many were left out.
MAX_LISTED_ERRORS = 50


def field_errors(errors: list[Any], *, drop_prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic / FastAPI errors as `{field, message, type}` items (the first MAX_LISTED_ERRORS)."""
    out: list[dict[str, Any]] = []
    for error in errors[:MAX_LISTED_ERRORS]:
        loc = [str(part) for part in error.get("loc", ())]
        while loc and loc[0] in drop_prefix:
            loc = loc[1:]
        out.append({"field": ".".join(loc) or None, "message": str(error.get("msg", "")),
                    "type": str(error.get("type", ""))})
    return out


def validation_response(errors: list[Any], *, drop_prefix: tuple[str, ...] = ()) -> Response:
    """400 for a body that is not JSON, 422 with field errors otherwise."""
    if any(error.get("type") == "json_invalid" for error in errors):
        detail = next(str(e.get("ctx", {}).get("error", e.get("msg"))) for e in errors if e.get("type") == "json_invalid")
        return error_response(MalformedJsonError.status, MalformedJsonError.code, "The request body is not valid JSON.",
                              description=detail)
    items = field_errors(errors, drop_prefix=drop_prefix)
    description = "; ".join(f"{i['field'] or 'body'}: {i['message']}" for i in items)[:1000]
    return error_response(InvalidParametersError.status, InvalidParametersError.code, "The request parameters are invalid.",
                          description=_left_out(description, len(items), len(errors)), errors=items)


def _left_out(description: str, listed: int, total: int) -> str:
    if total <= listed:
        return description
    return f"{total} errors, the first {listed} listed ({total - listed} left out). {description}"[:1100]


async def _app_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    errors, description = exc.errors, exc.description
    if errors is not None and len(errors) > MAX_LISTED_ERRORS:
        description = _left_out(description, MAX_LISTED_ERRORS, len(errors))
        errors = errors[:MAX_LISTED_ERRORS]
    return error_response(exc.status, exc.code, exc.message, description, errors, headers=headers)


async def _request_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_response(list(exc.errors()), drop_prefix=("body", "query", "path"))


async def _pydantic_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return validation_response(list(exc.errors()))


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_STATUS_CODES.get(exc.status_code, HTTP_ERROR_CODE)
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _database_down(_: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", type(exc).__name__)
    return await _app_error(_, DatabaseUnavailableError.outage())


async def _database_refused_value(request: Request, exc: Exception) -> Response:
    # SQLSTATE class 22 ("data exception") is a value PostgreSQL cannot take, e.g. a NUL character
    # in a path, query or parameter: the caller's input, not our fault. Raised through SQLAlchemy
    # (DBAPIError) or by the plain asyncpg pool of repositories/run_registry.py.
    assert isinstance(exc, DBAPIError | asyncpg.PostgresError)
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    if sqlstate.startswith(("08", "57P")):  # connection lost, server shutting down
        return await _database_down(request, exc)
    if not sqlstate.startswith("22"):
        return await _unexpected(request, exc)
    detail = str(orig).strip().splitlines()[0][:300] if orig is not None else ""
    return error_response(InvalidParametersError.status, InvalidParametersError.code,
                          "A value in the request cannot be stored or searched.",
                          description=detail)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    mark_logged(exc)
    return error_response(InternalError.status, InternalError.code, "An unexpected error occurred.",
                          description="The error was logged; no details are exposed.")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error class to its renderer."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _pydantic_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # SQLAlchemy's connection errors only: a bare OSError or TimeoutError may come from anything (Redis,
    # a webhook), and the database's own arrive as DatabaseUnavailableError (config/repository_factory.py).
    for kind in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(kind, _database_down)
    app.add_exception_handler(DBAPIError, _database_refused_value)
    app.add_exception_handler(asyncpg.PostgresError, _database_refused_value)
    app.add_exception_handler(Exception, _unexpected)
