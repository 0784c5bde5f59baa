"""Kombu's Redis transport, hardened against one crash on broker loss and owning its deliveries.

When the broker connection drops while a task is unacknowledged (always the case with
acks_late), Celery closes the connection and kombu tries to restore the unacked messages. By
then the channel's connection info is gone and kombu raises AttributeError, which Celery
treats as unrecoverable: the worker process exits (kombu/Celery 5.7). Raising a connection
error instead lets Celery do what it does for any connection error: reconnect and go on. The
unacked messages stay in kombu's unacked index and are restored after the visibility timeout,
or acknowledged by the worker that finishes them.

Kombu records a delivered, unacknowledged message in the `unacked` hash and `unacked_index`
zset but not which consumer holds it, so nobody can tell a dead worker's messages from a live
one's until the visibility timeout (an hour and more). In a worker main process (after
`set_delivery_owner`), every delivery is also written to the `toolbox:unacked-owner` hash
(delivery tag -> owner id) in the same MULTI as kombu's own bookkeeping, and removed with it on
ack, reject and restore. The owner id names the process and the consumer channel
(`<process owner>/<n>`): when the broker connection is lost, Celery drops the runs it had not
started and kombu's restore of them fails while the broker is down, so the messages of a closed
channel are orphans even though their process lives. background/processors/worker_liveness.py
restores the messages of an owner whose liveness key has expired, and of this process's closed
channels at once.
"""

from __future__ import annotations

import itertools
import threading
from time import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError

from config.redis_keys import UNACKED_OWNER_KEY, alive_key

_owner: str | None = None
_alive_ttl_s = 30
_open: set[str] = set()  # owner ids of this process's open consumer channels
_open_lock = threading.Lock()
_channels = itertools.count(1)


def set_delivery_owner(owner: str | None, alive_ttl_s: int = 30) -> None:
    """Record this process's deliveries under `owner` (a worker main process, before it consumes)."""
    global _owner, _alive_ttl_s
    _owner, _alive_ttl_s = owner, alive_ttl_s


def delivery_owner() -> str | None:
    return _owner


def open_owners() -> set[str]:
    """Owner ids of this process's consumer channels still open (their liveness is refreshed)."""
    with _open_lock:
        return set(_open)


class QoS(kombu_redis.QoS):
    """kombu's Redis QoS, also keeping who holds each unacknowledged message."""

    _channel_owner: str | None = None

    def _owner_id(self) -> str | None:
        if self._channel_owner is None and _owner is not None:
            self._channel_owner = f"{_owner}/{next(_channels)}"
            with _open_lock:
                _open.add(self._channel_owner)
        return self._channel_owner

    def restore_unacked_once(self, stderr: Any = None) -> Any:
        # Called when the channel closes (or is collected): kombu restores what it still holds if
        # the broker answers; whatever it could not restore is an orphan from now on.
        try:
            return super().restore_unacked_once(stderr)
        finally:
            if self._channel_owner is not None:
                with _open_lock:
                    _open.discard(self._channel_owner)

    def append(self, message: Any, delivery_tag: str) -> None:
        owner = self._owner_id()
        if owner is None:
            super().append(message, delivery_tag)
            return
        # kombu 5.7's QoS.append, with the owner (and its liveness) written in the same MULTI/EXEC:
        # there is never an unacked message whose owner entry names anybody else.
        delivery = message.delivery_info
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time()}) \
                .hset(self.unacked_key, delivery_tag,
                      dumps([message._raw, delivery["exchange"], delivery["routing_key"]])) \
                .hset(UNACKED_OWNER_KEY, delivery_tag, owner) \
                .set(alive_key(owner), owner, ex=_alive_ttl_s) \
                .execute()
            virtual.QoS.append(self, message, delivery_tag)

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        # Every path that drops an unacked entry (ack, reject, restore, visibility restore) comes here.
        return super()._remove_from_indices(delivery_tag, pipe).hdel(UNACKED_OWNER_KEY, delivery_tag)


class Channel(kombu_redis.Channel):
    """A Redis channel whose connection parameters fail as a connection error once closed."""

    QoS = QoS

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """Selected with `broker_transport` in config/celery_config.py; URLs stay `redis://`."""

    Channel = Channel
