"""The OpenAPI document: every task's parameter model; the bearer scheme on every route but the public ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from background.processors.base import BaseProcessor

BEARER_HELP = (
    "A Toolbox token (a JWT with a role: viewer < operator < admin). Get one with "
    "`uv run toolbox token --role operator --subject <you>`; beside a running `toolbox up`, "
    "`. var/up.env` puts an admin token in `$TOOLBOX_TOKEN` (also in `var/log/dev_token`). "
    "Paste the token alone, without the word Bearer."
)


# A route that needs no token declares `openapi_extra=PUBLIC` (health, metrics): it shows no padlock.
PUBLIC: dict[str, Any] = {"security": []}


def build_openapi(app: FastAPI, processor: BaseProcessor, *, replace: APIRouter | None = None,
                  documented: Sequence[BaseRoute] = ()) -> dict[str, Any]:
    """The document /openapi.json serves (built once).

    The router `replace` (the execute dispatch route, itself undocumented) is documented as the
    `documented` routes, in its place: one operation per task with its own parameter schema.
    """
    routes: list[BaseRoute] = []
    for route in app.routes:
        # FastAPI keeps an included router as one route holding it (`original_router`).
        is_replaced = replace is not None and getattr(route, "original_router", None) is replace
        routes.extend(documented if is_replaced else [route])
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for entry in processor.entries.values():
        model = entry.params_model
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    schema["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": BEARER_HELP}}
    schema["security"] = [{"bearer": []}]
    return schema
