"""JSON responses: orjson for plain values, pydantic for response models, and the error body (README, HTTP API)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(content: Any) -> bytes:
    """orjson bytes of a JSON-able value (pydantic models included)."""
    return orjson.dumps(content, default=_default, option=ORJSON_OPTIONS)


class JSONBytesResponse(JSONResponse):
    """FastAPI's default response class for Toolbox: orjson, no deprecated ORJSONResponse.

    A JSONResponse subclass so that FastAPI documents each route's response model in OpenAPI
    (for any other Response class it documents the body as a plain string).
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else dumps(content)


def model_response(model: BaseModel, status_code: int = 200, *, exclude_unset: bool = False) -> JSONBytesResponse:
    """A response whose body is the model's JSON, straight from pydantic's serializer (fields in model order).

    `exclude_unset` leaves out the fields the service did not set, for the shapes whose keys
    depend on the case (BulkResult: a dry run has `runs`, a real one `results`).
    """
    body = model.__pydantic_serializer__.to_json(model, exclude_unset=exclude_unset)
    return JSONBytesResponse(body, status_code=status_code)


class ErrorBody(BaseModel):
    """The error shape every endpoint answers with."""

    success: bool = False
    code: str
    message: str
    description: str = ""
    # Always present: the field errors of a 422, an empty list for every other error.
    errors: list[dict[str, Any]] = Field(default_factory=list)


def error_response(status: int, code: str, message: str, description: str = "",
                   errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> JSONBytesResponse:
    """A response in the error shape (README, HTTP API)."""
    body: dict[str, Any] = {"success": False, "code": code, "message": message, "description": description,
                            "errors": errors or []}
    return JSONBytesResponse(dumps(body), status_code=status, headers=headers)
