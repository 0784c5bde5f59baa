"""ASGI middleware refusing request bodies over a size limit with 413, before they are read whole."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.errors import PayloadTooLargeError
from schemas.responses import error_response


class BodyLimitMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead): checks Content-Length, then counts streamed bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(scope, receive, send)
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            PayloadTooLargeError.status, PayloadTooLargeError.code, f"The request body exceeds {self.max_bytes} bytes.",
            "Send a smaller JSON body: task parameters are small values; pass large data by reference "
            "(a file name, a batch folder, a date range).")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
