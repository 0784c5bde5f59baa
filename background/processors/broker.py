"""Kombu's Redis transport, hardened against one crash on broker loss.

When the broker connection drops while a task is unacknowledged (always the case with
acks_late), Celery closes the connection and kombu tries to restore the unacked messages. By
then the channel's connection info is gone and kombu raises AttributeError, which Celery
treats as unrecoverable: the worker process exits (kombu/Celery 5.7). Raising a connection
error instead lets Celery do what it does for any connection error: reconnect and go on. The
unacked messages stay in kombu's unacked index and are restored after the visibility timeout,
or acknowledged by the worker that finishes them.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    """A Redis channel whose connection parameters fail as a connection error once closed."""

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """Selected with `broker_transport` in config/celery_config.py; URLs stay `redis://`."""

    Channel = Channel
