"""One Redis pub/sub connection per API process, shared by everyone following a run.

The worker publishes every run event with its stream id on the channel named like the run's
stream (background.processors.run_events.APPEND_SCRIPT), and Celery's result backend publishes
every state it stores on `celery-task-meta-<id>`. Event streams and `?wait=` subscribe here: a
channel is subscribed once however many followers it has, and each message Redis sends is put
in the list of every follower of its channel. Following costs no connection, no Redis command
and no task of its own per follower and per event.

The connection is a plain asyncio protocol whose replies hiredis (C) parses: every message of a
read is handed out in one callback, with no coroutine, timeout or retry layer per message (the
redis-py PubSub reader spent more CPU per followed run than the rest of the stream together,
bench.console). Followers are woken in bursts: a run's log line and the progress that follows it
wake their follower once, after COALESCE_S, one process-wide timer for every follower.

A lost connection is not resumed silently (messages sent meanwhile would be missing): every
follower gets the error, and the next subscription opens a new connection.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from typing import Any, Literal, cast

import hiredis
import orjson
from redis.asyncio.connection import SSLConnection, parse_url

from config.redis_keys import RESULT_META_PREFIX
from models.run_state import ENDED_STATES
from schemas.errors import RedisUnavailableError

log = logging.getLogger("toolbox.run_events")
Message = tuple[bytes, bytes]  # (channel, payload)
Item = Message | BaseException
# Without a byte from Redis for this long the hub sends a PING; without one for twice as long the
# connection is dead.
IDLE_PING_S = 10.0
# After a failed connect, follows fail at once for this long instead of each waiting for a timeout.
RETRY_AFTER_S = 1.0
# How long a follower woken by a live event lets the rest of its burst gather (one write for the burst).
COALESCE_S = 0.02
# When BUSY_READS reads come within BATCH_S while BUSY_CHANNELS runs or more are followed, the hub
# reads once per BATCH_S from then on, until a pause keeps nothing. A few followers get every
# message at once (a lone run's final event is not delayed); many get live progress up to BATCH_S
# late, and a stream's burst still costs one write.
BATCH_S = 0.1
BUSY_READS = 8
BUSY_CHANNELS = 10
# A read this soon after reading resumed brings what the pause kept: a batch, so reading pauses again.
RESUME_GRACE_S = 0.002
# Coarse idle waits (a stream's keep-alive) end within this much of their time: one timer for them all.
IDLE_SWEEP_S = 1.0
_META = RESULT_META_PREFIX.encode()


def finished(channel: bytes, payload: bytes) -> bool:
    """Does this message say the run reached a final state?

    A run event as the worker publishes it is `<id> <type> <final> <data>`; a result-backend
    message is the stored meta (JSON) with its `status`.
    """
    if channel.startswith(_META):
        try:
            meta = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        return isinstance(meta, dict) and meta.get("status") in ENDED_STATES
    return payload.split(b" ", 3)[2:3] == [b"1"]


class Subscription:
    """One follower's messages (channel, payload) in arrival order, or the error that ended the connection.

    `wake="burst"`: `next` returns COALESCE_S after the first message of a burst, at once on a
    final one or an error. `wake="final"`: only a final message or an error is kept and wakes it.
    """

    __slots__ = ("channels", "_burst", "_hub", "_items", "_waiter")

    def __init__(self, hub: RunEventHub, channels: tuple[bytes, ...], wake: Literal["burst", "final"]) -> None:
        self.channels = channels
        self._hub = hub
        self._burst = wake == "burst"
        self._items: list[Item] = []
        self._waiter: asyncio.Future[None] | None = None

    async def next(self, idle_s: float, *, coarse: bool = False) -> list[Item]:
        """What arrived since the last call; waits for it up to `idle_s` (then an empty list).

        `coarse`: the wait may end up to IDLE_SWEEP_S late, on the hub's one sweep timer instead
        of a timer of its own (a timer per wait costs more than the rest of the wait, bench.console).
        """
        if not self._items:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = None if coarse else loop.call_later(idle_s, _wake, waiter)
            if coarse:
                self._hub.sleep_until(waiter, loop.time() + idle_s)
            try:
                await waiter
            finally:
                if timer is None:
                    self._hub.awake(waiter)
                else:
                    timer.cancel()
                self._waiter = None
        items, self._items = self._items, []
        return items

    def put(self, item: Item) -> None:
        """From the hub's protocol callback: never blocks, never awaits."""
        last = isinstance(item, BaseException) or finished(*item)
        if not (self._burst or last):
            return
        self._items.append(item)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if last:
            waiter.set_result(None)
        else:
            self._hub.wake_later(waiter)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _PubSubProtocol(asyncio.Protocol):
    """The hub's connection: RESP2 replies parsed by hiredis, pub/sub pushes handed to the hub."""

    def __init__(self, hub: RunEventHub) -> None:
        self._hub = hub
        self._parser = hiredis.Reader()
        self._replies: deque[asyncio.Future[Any]] = deque()  # commands answered before any SUBSCRIBE (AUTH)
        self.transport: asyncio.Transport | None = None
        self.heard = True  # a byte came since the last idle check
        self.pinged = False
        self._window_start = self._resumed_at = float("-inf")
        self._window_reads = 0
        self._resume: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport instances

    def send(self, *parts: bytes | str) -> None:
        """One command, RESP-encoded."""
        assert self.transport is not None
        encoded = [part.encode() if isinstance(part, str) else part for part in parts]
        out = [b"*%d\r\n" % len(encoded)]
        for part in encoded:
            out += [b"$%d\r\n" % len(part), part, b"\r\n"]
        self.transport.write(b"".join(out))

    async def call(self, *parts: bytes | str) -> Any:
        """A command answered in order (only before the first SUBSCRIBE); its reply, or the error raised."""
        future = asyncio.get_running_loop().create_future()
        self._replies.append(future)
        self.send(*parts)
        reply = await future
        if isinstance(reply, hiredis.ReplyError):
            raise ConnectionError(f"Redis answered {parts[0]!r}: {reply}")
        return reply

    def data_received(self, data: bytes) -> None:
        self.heard, self.pinged = True, False
        self._parser.feed(data)
        hub = self._hub
        while (reply := self._parser.gets()) is not False:
            if isinstance(reply, list) and reply and reply[0] in (b"message", b"subscribe", b"unsubscribe", b"pong"):
                hub.pushed(reply)
            elif self._replies:
                self._replies.popleft().set_result(reply)
            # else: the +PONG of an idle check before any subscription
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._window_start > BATCH_S:
            self._window_start, self._window_reads = now, 0
        self._window_reads += 1
        busy = (self._window_reads >= BUSY_READS and hub.channels >= BUSY_CHANNELS
                or now - self._resumed_at < RESUME_GRACE_S)
        if busy and self.transport is not None and self._resume is None:
            # Many messages: read them once per BATCH_S from now on. The
            # kernel keeps them meanwhile, and the process wakes once per batch instead of once per
            # message (here, a wake-up costs more CPU than handling the message it brings).
            self.transport.pause_reading()
            self._resume = loop.call_later(BATCH_S, self._resume_reading)
            hub.wake_due()  # this read is a batch: its followers need not wait for the burst window

    @property
    def batching(self) -> bool:
        return self._resume is not None

    def _resume_reading(self) -> None:
        self._resume = None
        if self.transport is not None and not self.transport.is_closing():
            self._resumed_at = asyncio.get_running_loop().time()
            self.transport.resume_reading()  # what arrived meanwhile is read at once, as one batch

    def connection_lost(self, exc: Exception | None) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        error = exc or ConnectionError("Redis closed the connection")
        for future in self._replies:
            if not future.done():
                future.set_exception(error)
        self._replies.clear()
        self._hub.lost(self, error)


class RunEventHub:
    """The followers of this API process and the one connection (`url`, like REDIS_URL) they share."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._protocol: _PubSubProtocol | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._followers: dict[bytes, set[Subscription]] = {}
        # Per channel, one future per SUBSCRIBE sent and not yet confirmed, in the order sent:
        # Redis confirms them in that order on the connection.
        self._pending: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._connecting = asyncio.Lock()
        self._down_until = 0.0
        # Followers to wake at the end of the current burst window, and its one timer.
        self._due: list[asyncio.Future[None]] = []
        self._due_timer: asyncio.TimerHandle | None = None
        # Coarse idle waits and their deadlines (loop time), and the one timer that ends them.
        self._sleepers: dict[asyncio.Future[None], float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def channels(self) -> int:
        """How many channels this process is subscribed to (for tests and metrics)."""
        return len(self._followers)

    @property
    def batching(self) -> bool:
        """True while the connection reads once per BATCH_S (see BUSY_READS)."""
        return self._protocol is not None and self._protocol.batching

    async def subscribe(self, *channels: str, wake: Literal["burst", "final"] = "burst") -> Subscription:
        """Follow these channels; returns once Redis confirmed each subscription, so nothing sent after is missed.

        RedisUnavailableError when Redis cannot be reached.
        """
        sub = Subscription(self, tuple(channel.encode() for channel in channels), wake)
        try:
            protocol = await self._connected()
            new = [channel for channel in sub.channels if channel not in self._followers]
            for channel in sub.channels:
                self._followers.setdefault(channel, set()).add(sub)
            loop = asyncio.get_running_loop()
            for channel in new:
                self._pending.setdefault(channel, deque()).append(loop.create_future())
            if new:
                protocol.send(b"SUBSCRIBE", *new)
            # The latest SUBSCRIBE of each channel (this one's or another follower's) must be confirmed.
            waits = [self._pending[channel][-1] for channel in sub.channels if self._pending.get(channel)]
            if waits:
                await asyncio.wait_for(asyncio.gather(*(asyncio.shield(w) for w in waits)), self._timeout_s)
        except (OSError, TimeoutError, ConnectionError) as exc:
            self.release(sub)
            raise unavailable(exc) from exc
        except BaseException:
            self.release(sub)
            raise
        return sub

    def release(self, sub: Subscription) -> None:
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
        protocol = self._protocol
        if gone and protocol is not None and protocol.transport is not None and not protocol.transport.is_closing():
            protocol.send(b"UNSUBSCRIBE", *gone)

    async def connected(self) -> None:
        """Open the hub's connection if needed; RedisUnavailableError when Redis cannot be reached."""
        try:
            await self._connected()
        except (OSError, TimeoutError, ConnectionError) as exc:
            raise unavailable(exc) from exc

    def wake_later(self, waiter: asyncio.Future[None]) -> None:
        """Wake `waiter` when the current burst window closes (COALESCE_S after its first message)."""
        self._due.append(waiter)
        if self._due_timer is None:
            self._due_timer = asyncio.get_running_loop().call_later(COALESCE_S, self._wake_due)

    def sleep_until(self, waiter: asyncio.Future[None], deadline: float) -> None:
        """Wake `waiter` at the first sweep after `deadline` (loop time) unless something wakes it first."""
        self._sleepers[waiter] = deadline
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(IDLE_SWEEP_S, self._sweep)

    def awake(self, waiter: asyncio.Future[None]) -> None:
        self._sleepers.pop(waiter, None)

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for waiter in [w for w, deadline in self._sleepers.items() if deadline <= now]:
            _wake(waiter)
        self._sweeper = asyncio.get_running_loop().call_later(IDLE_SWEEP_S, self._sweep) if self._sleepers else None

    def wake_due(self) -> None:
        """Wake every follower waiting for the end of its burst window, now."""
        if self._due_timer is not None:
            self._due_timer.cancel()
        self._wake_due()

    def _wake_due(self) -> None:
        due, self._due, self._due_timer = self._due, [], None
        for waiter in due:
            _wake(waiter)

    def pushed(self, reply: list[Any]) -> None:
        """A pub/sub reply: a message for the followers of its channel, or a (un)subscribe confirmation."""
        kind, channel = reply[0], reply[1]
        if kind == b"message":
            message = (channel, reply[2])
            for sub in self._followers.get(channel, ()):
                sub.put(message)
        elif kind == b"subscribe":
            waiting = self._pending.get(channel)
            if waiting:
                future = waiting.popleft()
                if not waiting:
                    del self._pending[channel]
                if not future.done():
                    future.set_result(None)

    def lost(self, protocol: _PubSubProtocol, exc: BaseException) -> None:
        """The connection ended: every follower and every pending subscription gets the error."""
        if protocol is not self._protocol:
            return
        log.warning("run event subscription lost", extra={"error": f"{type(exc).__name__}: {exc}"})
        error = unavailable(exc)
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
        self._protocol = None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    async def _connected(self) -> _PubSubProtocol:
        async with self._connecting:
            if self._protocol is None:
                # Followers queued behind a failed attempt fail at once, not one connect timeout each.
                if time.monotonic() < self._down_until:
                    raise ConnectionError("Redis could not be reached a moment ago")
                try:
                    protocol = await asyncio.wait_for(self._open(), self._timeout_s)
                except BaseException:
                    self._down_until = time.monotonic() + RETRY_AFTER_S
                    raise
                self._protocol = protocol
                self._idle = asyncio.get_running_loop().call_later(IDLE_PING_S, self._check_idle, protocol)
            return self._protocol

    async def _open(self) -> _PubSubProtocol:
        """Connect as REDIS_URL says (TCP, TLS or a Unix socket) and authenticate."""
        options = parse_url(self._url)
        loop = asyncio.get_running_loop()
        protocol = _PubSubProtocol(self)
        if "path" in options:
            await loop.create_unix_connection(lambda: protocol, options["path"])
        else:
            tls = ssl.create_default_context() if options.get("connection_class") is SSLConnection else None
            await loop.create_connection(lambda: protocol, options.get("host", "localhost"),
                                         options.get("port", 6379), ssl=tls)
        try:
            if options.get("password"):
                user = [options["username"]] if options.get("username") else []
                await protocol.call(b"AUTH", *user, options["password"])
        except BaseException:
            assert protocol.transport is not None
            protocol.transport.close()
            raise
        return protocol

    def _check_idle(self, protocol: _PubSubProtocol) -> None:
        """Every IDLE_PING_S: after a silent period a PING; after a silent PING the connection is dead."""
        if protocol is not self._protocol or protocol.transport is None:
            return
        if not protocol.heard:
            if protocol.pinged:
                protocol.transport.abort()  # connection_lost tells every follower
                return
            protocol.send(b"PING")
            protocol.pinged = True
        protocol.heard = False
        self._idle = asyncio.get_running_loop().call_later(IDLE_PING_S, self._check_idle, protocol)

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._due_timer is not None:
            self._due_timer.cancel()
            self._wake_due()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for waiter in list(self._sleepers):
            _wake(waiter)
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        self._idle = self._due_timer = None


def unavailable(exc: BaseException, what: str = "the run cannot be followed") -> RedisUnavailableError:
    """The one error of a Redis out of reach while following a run (`exc` the cause)."""
    if isinstance(exc, RedisUnavailableError):
        return exc
    return RedisUnavailableError(f"Redis is unreachable; {what}.", description=f"{type(exc).__name__}: {exc}")
