"""Reading a Server-Sent Events stream the way a browser's EventSource would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson


@dataclass
class Event:
    id: str | None
    event: str
    data: Any


async def read_events(client: httpx.AsyncClient, url: str, *, last_event_id: str | None = None,
                      stop_after: int | None = None) -> tuple[list[Event], bool]:
    """The events of one connection, and whether the server ended the stream (False: we hung up)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[Event] = []
    fields: dict[str, str] = {}
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line == "":
                if "data" in fields:
                    events.append(Event(fields.get("id"), fields.get("event", "message"), orjson.loads(fields["data"])))
                    if stop_after is not None and len(events) >= stop_after:
                        return events, False
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
    return events, True
