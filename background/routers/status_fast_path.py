"""`GET /tasks/status/<id>` of a finished run, answered before FastAPI's routing (pure ASGI).

A finished run never changes, and each API process keeps its rendered status a few minutes
(background/processors/status_view.py, `FinishedRuns`). Pollers, the console and scripts ask for it again and
again; for them this middleware checks the token exactly as the route does (the same
TokenService, its cache of verified tokens, the viewer role) and sends the stored bytes.

Anything else goes on to the route untouched: another method or path, a query string
(`?wait=`), a run this process does not hold as finished, and every refusal (no token, a bad
one, a role too low), so errors keep their one code path and shape.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from background.routers.tasks import RouteLabel
from routers.dependencies import built_state
from schemas.errors import AppError

PREFIX = "/tasks/status/"
# The metrics label of the route it stands in for (background/routers/tasks.py, task_status).
ROUTE = RouteLabel("/tasks/status/{task_id}")


class FinishedStatusFastPath:
    """Serves the stored status of finished runs to authorised viewers; passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._stored(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = ROUTE
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _stored(scope: Scope) -> bytes | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or scope["query_string"] or not path.startswith(PREFIX):
            return None
        task_id = path[len(PREFIX):]
        if not task_id or "/" in task_id:
            return None  # another route (/events, /logs) or no id
        state = built_state(scope["app"])
        if state is None:
            return None  # before the lifespan has built the state
        body = state.processor.finished_status_body(task_id)
        if body is None:
            return None
        if state.settings.auth.enabled:
            authorization = None
            for key, value in scope["headers"]:
                if key == b"authorization":
                    authorization = value.decode("latin-1")
                    break
            try:
                state.tokens.verify(authorization).require("viewer")
            except AppError:
                return None  # the route answers the refusal
        return body
