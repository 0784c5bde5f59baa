"""A local HTTP server playing an exchange-rate API, answering from a script of responses."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: status, body (JSON-encoded unless bytes) and a delay before answering."""

    status: int = 200
    body: Any = None
    delay_s: float = 0.0


class RateServer:
    """Serves scripted replies in order on 127.0.0.1; records every requested path.

    Once the script is used up it answers `fallback(path)` if one is given (a provider that is
    always up), else 500.
    """

    def __init__(self, fallback: Callable[[str], Reply] | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.fallback = fallback
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.paths.append(self.path)
                if server.replies:
                    reply = server.replies.popleft()
                elif server.fallback is not None:
                    reply = server.fallback(self.path)
                else:
                    reply = Reply(500, {"error": "no reply scripted"})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> RateServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
