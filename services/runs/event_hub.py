"""One Redis pub/sub connection per API process, shared by everyone following a run.

The worker publishes every run event with its stream id on the channel named like the run's
stream (background.processors.run_events.APPEND_SCRIPT), and Celery's result backend publishes
every state it stores on `celery-task-meta-<id>`. Event streams and `?wait=` subscribe here: a
channel is subscribed once however many followers it has, and one task reads every message and
puts it on the queue of each follower of its channel. Following costs no connection and no Redis
command per follower and per event.

A lost connection is not resumed silently (messages sent meanwhile would be missing): every
follower gets the error, and the next subscription opens a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from schemas.errors import RedisUnavailableError

log = logging.getLogger("toolbox.run_events")
Message = tuple[bytes, bytes]  # (channel, payload)
IDLE_PING_S = 10.0
# After a failed connect, follows fail at once for this long instead of each waiting for a timeout.
RETRY_AFTER_S = 1.0


def _final(payload: bytes) -> bool:
    """A run event as the worker publishes it, `<id> <type> <final> <data>`: is it the final state?"""
    return payload.split(b" ", 3)[2:3] == [b"1"]


class Subscription:
    """One follower's messages: (channel, payload), or the exception that ended the hub's connection."""

    __slots__ = ("channels", "queue", "_holding")

    def __init__(self, channels: tuple[bytes, ...]) -> None:
        self.channels = channels
        self.queue: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._holding: asyncio.Future[None] | None = None

    async def hold(self, seconds: float) -> None:
        """Let messages gather for `seconds` without a wake-up each; a final run event or an error ends it early."""
        loop = asyncio.get_running_loop()
        self._holding = future = loop.create_future()
        timer = loop.call_later(seconds, _wake, future)
        try:
            await future
        finally:
            timer.cancel()
            self._holding = None

    def put(self, item: Message | BaseException) -> None:
        self.queue.put_nowait(item)
        if self._holding is not None and (isinstance(item, BaseException) or _final(item[1])):
            _wake(self._holding)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RunEventHub:
    """`client` serves this hub only (its pool holds the one subscribed connection)."""

    def __init__(self, client: aioredis.Redis, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._followers: dict[bytes, set[Subscription]] = {}
        # Per channel, one future per SUBSCRIBE sent and not yet confirmed, in the order sent:
        # Redis confirms them in that order on the connection.
        self._pending: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._connecting = asyncio.Lock()
        self._down_until = 0.0

    @property
    def channels(self) -> int:
        """How many channels this process is subscribed to (for tests and metrics)."""
        return len(self._followers)

    async def subscribe(self, *channels: str) -> Subscription:
        """Follow these channels; returns once Redis confirmed each subscription, so nothing sent after is missed.

        RedisUnavailableError when Redis cannot be reached.
        """
        sub = Subscription(tuple(channel.encode() for channel in channels))
        try:
            pubsub = await self._connected()
            new = [channel for channel in sub.channels if channel not in self._followers]
            for channel in sub.channels:
                self._followers.setdefault(channel, set()).add(sub)
            loop = asyncio.get_running_loop()
            for channel in new:
                self._pending.setdefault(channel, deque()).append(loop.create_future())
            if new:
                await pubsub.subscribe(*new)  # sends only: the reader task receives the confirmations
            # The latest SUBSCRIBE of each channel (this one's or another follower's) must be confirmed.
            waits = [self._pending[channel][-1] for channel in sub.channels if self._pending.get(channel)]
            if waits:
                await asyncio.wait_for(asyncio.gather(*(asyncio.shield(w) for w in waits)), self._timeout_s)
        except (RedisError, OSError, TimeoutError, ConnectionError) as exc:
            await self.release(sub)
            raise RedisUnavailableError("Redis is unreachable; the run cannot be followed.",
                                          description=f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            await self.release(sub)
            raise
        return sub

    async def release(self, sub: Subscription) -> None:
        """Stop following; a channel nobody follows any more is unsubscribed."""
        gone = []
        for channel in sub.channels:
            followers = self._followers.get(channel)
            if followers is None or sub not in followers:
                continue
            followers.discard(sub)
            if not followers:
                del self._followers[channel]
                gone.append(channel)
        if gone and self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(*gone)

    async def connected(self) -> None:
        """Open the hub's connection if needed; RedisUnavailableError when Redis cannot be reached."""
        try:
            await self._connected()
        except (RedisError, OSError, TimeoutError) as exc:
            raise RedisUnavailableError("Redis is unreachable; the run cannot be followed.",
                                          description=f"{type(exc).__name__}: {exc}") from exc

    async def _connected(self) -> PubSub:
        async with self._connecting:
            if self._pubsub is None:
                # Followers queued behind a failed attempt fail at once, not one connect timeout each.
                if time.monotonic() < self._down_until:
                    raise ConnectionError("Redis could not be reached a moment ago")
                pubsub = self._client.pubsub()
                try:
                    await asyncio.wait_for(pubsub.connect(), self._timeout_s)  # takes and opens the connection
                except BaseException:
                    self._down_until = time.monotonic() + RETRY_AFTER_S
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                    raise
                self._pubsub = pubsub
                self._reader = asyncio.create_task(self._read(pubsub), name="run-event-hub")
            return self._pubsub

    async def _read(self, pubsub: PubSub) -> None:
        followers, pending = self._followers, self._pending
        try:
            while True:
                message = await pubsub.get_message(timeout=IDLE_PING_S)
                if message is None:
                    # Idle: a PING whose answer must come within the next read's time, or the connection is dead.
                    await pubsub.ping()
                    continue
                kind, channel = message["type"], message["channel"]
                if kind == "message":
                    data = message["data"]
                    for sub in followers.get(channel, ()):
                        sub.put((channel, data))
                elif kind == "subscribe":
                    waiting = pending.get(channel)
                    if waiting:
                        future = waiting.popleft()
                        if not waiting:
                            del pending[channel]
                        if not future.done():
                            future.set_result(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure ends the connection for every follower
            log.warning("run event subscription lost", extra={"error": f"{type(exc).__name__}: {exc}"})
            await self._fail(pubsub, exc)

    async def _fail(self, pubsub: PubSub, exc: BaseException) -> None:
        error = RedisUnavailableError("Redis is unreachable; the run cannot be followed.",
                                        description=f"{type(exc).__name__}: {exc}")
        for subs in self._followers.values():
            for sub in subs:
                sub.put(error)
        for futures in self._pending.values():
            for future in futures:
                if not future.done():
                    future.set_exception(ConnectionError(str(exc)))
                    future.exception()  # retrieved: nobody else may be awaiting it
        self._followers.clear()
        self._pending.clear()
        if self._pubsub is pubsub:
            self._pubsub = None
            self._reader = None
        with contextlib.suppress(Exception):
            await pubsub.aclose()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        self._pubsub = self._reader = None
