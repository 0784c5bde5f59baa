"""Coalesces concurrent writes into one round trip, without a timer.

When nothing is being flushed, an item is flushed at once (no added latency at low load);
items that arrive while a flush is in flight wait for it and then go out together. Under load
this turns N round trips (each a send and a receive system call) into one, which is where
most of the API's CPU goes on this kind of machine.

One caller must never fail the others sharing its flush: when a flush of several items fails
with an error `isolate` says is about the items (a value the database refuses) rather than the
connection, each item is flushed again on its own, so only the bad one gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """`await submit(item)` returns once a flush containing `item` has succeeded (or raises its error).

    A flush may return one result per item (a batched read); `submit` then returns the item's.
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[Any] | None]], max_batch: int = 256,
                 isolate: Callable[[BaseException], bool] | None = None) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._isolate = isolate
        self._pending: list[tuple[T, asyncio.Future[Any]]] = []
        self._draining = False

    async def submit(self, item: T) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                # A caller that gave up (timeout, disconnect) has already been answered: its item
                # must not be written behind its back.
                live = [(item, future) for item, future in batch if not future.done()]
                if not live:
                    continue
                try:
                    await self._flush_isolating(live)
                except BaseException as exc:  # cancelled (shutdown): every waiting caller is told
                    _fail(live, exc)
                    raise
        finally:
            self._draining = False

    async def _flush_isolating(self, live: list[tuple[T, asyncio.Future[Any]]]) -> None:
        try:
            await self._flush_batch(live)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting callers
            if len(live) == 1 or self._isolate is None or not self._isolate(exc):
                _fail(live, exc)
                return
            for single in live:
                if single[1].done():
                    continue
                try:
                    await self._flush_batch([single])
                except Exception as own:  # noqa: BLE001 - that caller's own error
                    _fail([single], own)

    async def _flush_batch(self, live: list[tuple[T, asyncio.Future[Any]]]) -> None:
        results = await self._flush([item for item, _ in live])
        for index, (_, future) in enumerate(live):
            if not future.done():
                future.set_result(None if results is None else results[index])


def _fail(live: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, future in live:
        if not future.done():
            future.set_exception(exc)
