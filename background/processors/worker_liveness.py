"""Runs held by a dead worker main process go back to the queue within a minute, not an hour.

With acks_late, a message stays in kombu's `unacked` hash until its run ends. When a pool child
dies, its main process requeues the message at once; when the main process itself dies
(SIGKILL, the OOM killer, a lost host) nothing does until kombu's visibility timeout, which is
above the longest task time limit. So every worker main process:

- owns its deliveries (background/processors/broker.py writes tag -> owner id next to kombu's
  entry) under an owner id unique to the process and its consumer channel (hostname, pid,
  random suffix, channel number: a restarted worker with the same name is a new owner);
- keeps a liveness key `toolbox:worker-alive:<owner>` per open channel with a short TTL,
  refreshed by a thread;
- sweeps: every owner in the owner hash whose liveness key has expired is dead, and so is a
  channel of its own that has closed (kombu could not restore its messages while the broker
  was down; Celery has dropped the runs it had not started); each of their
  messages is restored with kombu's own restore (front of its queue, `redelivered` set), in a
  WATCH/MULTI transaction that first checks the owner entry still names the dead owner. A live
  worker's messages are never touched; several sweepers restore each message once.

A message whose run had started (state STARTED or PROGRESS) is restored with a marker
`toolbox:worker-lost:<task id>`. The worker that takes it handles it as Celery handles a dead
pool child (`ToolboxTask` calls `after_worker_lost`): retried if the task sets
`retry_on_worker_lost` and has retries left, run again if it allows that
(`reject_on_worker_lost`, on by default here), else it ends FAILURE `WorkerLost`, releasing its
single-run lock on the way.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from background.processors.broker import open_owners, set_delivery_owner
from config.redis_keys import LOST_MARKER_DEFAULT_TTL_S, UNACKED_OWNER_KEY, alive_key, lost_key
from models.run_state import ENDED_STATES as ENDED
from models.run_state import RUNNING_STATES as RUNNING

if TYPE_CHECKING:
    import redis

log = logging.getLogger("toolbox.worker_liveness")


class WorkerLost(Exception):  # noqa: N818 - the name is what a user reads in the run's error
    """The worker main process running this run died; the task does not allow running it again.

    Not Celery's WorkerLostError on purpose: raised from a task body, that one would make the
    worker's main process handle the failure a second time.
    """


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class RestoredRun:
    """One message of a dead owner sent back to its queue."""

    task_id: str | None
    task_name: str | None
    owner: str
    was_running: bool


def _state(app: Celery, task_id: str | None) -> str | None:
    return None if task_id is None else str(app.backend.get_task_meta(task_id).get("status"))


def _running_here(task_id: str | None) -> bool:
    from celery.worker.state import active_requests  # this worker's runs in progress

    return task_id is not None and any(request.id == task_id for request in tuple(active_requests))


def _restore(app: Celery, channel: Any, tag: str, owner: str, marker_ttl_s: int, *,
             orphan: bool) -> RestoredRun | None:
    """Send `tag` back to its queue if `owner` still holds it; None if there was nothing to send.

    A run that already ended (its worker stored the end, then died before acknowledging) is only
    dropped from the indices, as Celery does for a dead child. An `orphan` (this process's closed
    channel) still running here is left alone, and comes back without a worker-lost marker.
    """
    qos = channel.qos
    restored: list[RestoredRun] = []

    def transaction(pipe: Any) -> None:
        restored.clear()
        if _text(pipe.hget(UNACKED_OWNER_KEY, tag)) != owner:
            return  # acknowledged, or restored by another sweeper, since we read the owners
        raw = pipe.hget(channel.unacked_key, tag)
        message = loads(bytes_to_str(raw)) if raw else None
        headers = (message[0].get("headers") or {}) if message else {}
        task_id = headers.get("id") if isinstance(headers.get("id"), str) else None
        if orphan and _running_here(task_id):
            return  # its run goes on in this process; looked at again once it has ended
        state = _state(app, task_id)
        pipe.multi()
        qos._remove_from_indices(tag, pipe)  # kombu's entries and the owner entry, together
        if message is None or state in ENDED:
            return  # nothing to send: a stale owner entry, or a run that has ended
        running = state in RUNNING and not orphan
        if running and task_id is not None:
            pipe.set(lost_key(task_id), owner, ex=marker_ttl_s)
        payload, exchange, routing_key = message
        channel._do_restore_message(payload, exchange, routing_key, pipe)
        restored.append(RestoredRun(task_id, headers.get("task"), owner, running))

    # Watching kombu's unacked hash as kombu's own restore does: any delivery or ack in between
    # makes the transaction run again on fresh values.
    channel.client.transaction(transaction, channel.unacked_key, UNACKED_OWNER_KEY)
    return restored[0] if restored else None


def sweep_dead_owners(app: Celery, channel: Any, *, mine: str | None = None,
                      spare: Callable[[], frozenset[str]] = frozenset,
                      marker_ttl_s: int = LOST_MARKER_DEFAULT_TTL_S) -> list[RestoredRun]:
    """Restore every message held by an owner whose liveness key is gone, or by a closed channel
    of this process (owner ids under `mine` not in `spare()`); never by an owner in `spare()`."""
    client: redis.Redis = channel.client
    owners = {_text(tag): _text(owner) for tag, owner in client.hgetall(UNACKED_OWNER_KEY).items()}
    # Read after the owners: a channel opened meanwhile is already listed (it registers before
    # its first delivery is written), so it is never mistaken for a closed one.
    spared = frozenset(spare())
    names = sorted({owner for owner in owners.values() if owner and owner not in spared})
    if not names:
        return []
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(alive_key(name))
        alive = pipe.execute()
    orphans = {name for name in names if mine is not None and name.startswith(mine + "/")}
    dead = orphans | {name for name, exists in zip(names, alive, strict=True) if not exists}
    out: list[RestoredRun] = []
    for tag, owner in owners.items():
        if tag is None or owner not in dead:
            continue
        run = _restore(app, channel, tag, owner, marker_ttl_s, orphan=owner in orphans)
        if run is not None:
            out.append(run)
            log.warning("worker %s is gone (no liveness for its TTL, or its broker connection closed): run %s (%s) "
                        "sent back to its queue%s",
                        owner, run.task_id, run.task_name, " after it had started" if run.was_running else "",
                        extra={"task_id": run.task_id, "task_name": run.task_name})
    return out


class WorkerLiveness:
    """The liveness key and the dead-owner sweep of one worker main process (a daemon thread)."""

    def __init__(self, app: Celery, hostname: str, ttl_s: int) -> None:
        self.app = app
        self.hostname = hostname
        self.ttl_s = ttl_s
        self.owner = f"{hostname}#{os.getpid()}-{secrets.token_hex(3)}"
        # Several refreshes per TTL: a worker is declared dead only after missing all of them.
        self.refresh_s = max(ttl_s / 6, 0.5)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Any = None

    def start(self) -> None:
        """Take ownership of deliveries (each delivery also sets its channel's key) and start refreshing."""
        set_delivery_owner(self.owner, self.ttl_s)
        self._thread = threading.Thread(target=self._loop, name="toolbox-liveness", daemon=True)
        self._thread.start()
        log.info("worker liveness %s: TTL %ss, refreshed every %.1fs", self.owner, self.ttl_s, self.refresh_s)

    def stop(self) -> None:
        # The key is left to expire: whatever the worker still held is restored by kombu at
        # shutdown, or by another worker's sweep once the key is gone.
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.refresh_s + 5)
        self._close()

    def _channel(self) -> Any:
        if self._connection is None:
            self._connection = self.app.connection_for_write()
        return self._connection.default_channel

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def _refresh(self) -> None:
        # Each open consumer channel of this process is an owner; a closed one is left to expire.
        live = open_owners()
        if live:
            with self._channel().client.pipeline(transaction=False) as pipe:
                for owner in live:
                    pipe.set(alive_key(owner), self.hostname, ex=self.ttl_s)
                pipe.execute()

    def sweep(self) -> list[RestoredRun]:
        """One sweep: dead owners anywhere, and this process's closed channels (never its open ones)."""
        return sweep_dead_owners(self.app, self._channel(), mine=self.owner,
                                 spare=lambda: frozenset(open_owners()),
                                 marker_ttl_s=int(self.app.conf.result_expires or LOST_MARKER_DEFAULT_TTL_S))

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                # Dead workers are seen within TTL + one refresh; a closed channel's orphans at once.
                self._refresh()
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - a broker hiccup must not end the thread
                log.warning("worker liveness refresh or sweep failed: %s: %s", type(exc).__name__, exc)
                self._close()


def take_lost_marker(client: redis.Redis, task_id: str, delivery_info: dict[str, Any] | None) -> str | None:
    """The dead owner that was running this run before it came back, if a sweep said so (once)."""
    if not (delivery_info or {}).get("redelivered"):
        return None  # only a restored message can carry a marker: no round trip for the others
    return _text(client.getdel(lost_key(task_id)))


def after_worker_lost(task: Any, owner: str) -> None:
    """Decide what a run whose worker main process died does now, as Celery does for a dead child.

    Retried (RETRY, retries + 1, after the task's `default_retry_delay`) when the task sets
    `retry_on_worker_lost`, until `max_retries`; else run again when it allows
    `reject_on_worker_lost`; else FAILURE `WorkerLost`.
    """
    name = task.name
    if task.retry_on_worker_lost:
        exc = WorkerLost(f"worker lost: {owner} died while running this run of {name}")
        # Task.retry raises `exc` itself once max_retries is reached: the run then ends FAILURE.
        raise task.retry(exc=exc, countdown=task.default_retry_delay)
    if task.reject_on_worker_lost:
        log.warning("run of %s is running again: worker %s died while running it", name, owner)
        return
    raise WorkerLost(f"worker lost: {owner} died while running this run; {name} declares "
                     "reject_on_worker_lost=False, so it is not run again")
