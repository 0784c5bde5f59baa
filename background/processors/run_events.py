"""A run's live events and its own log, written by the worker into Redis.

Keys (all expire with the run's result, `CELERY_RESULT_EXPIRES_S`):

- `toolbox:run-events:<id>`  a Redis Stream: one `status` entry per state or progress change and
  one `log` entry per captured log line. The API serves it as Server-Sent Events whose `id` is the
  stream id, so `Last-Event-ID` resumes exactly after the last entry a client saw.
- `toolbox:run-logs:<id>`    a list of the captured log lines (JSON), for GET .../logs.
- `toolbox:run-logs-meta:<id>` a hash: `lines`, `bytes`, `truncated` (bounds survive Celery retries,
  which re-run the same id in another process).

Each entry is also published, with its stream id, on the pub/sub channel named like its stream
(`<id> <type> <final> <data>`): an API process subscribes once per followed run and hands the
entries to every follower (services/runs/event_hub.py), so no follower reads the stream per event.
The stream stays the record a follower (re)starts from.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from redis.exceptions import NoScriptError, RedisError

from config.redis_keys import events_key, logs_key, logs_meta_key
from models.run_state import ENDED_STATES as TERMINAL

# Approximate cap of one stream: a task reporting progress in a tight loop cannot grow it without end.
STREAM_MAXLEN = 20_000
MAX_LINES = 1000
MAX_BYTES = 256 * 1024
MAX_MESSAGE = 4000
# Loggers whose records belong to a run: the task modules', the services' and the toolbox's own.
CAPTURED_PREFIXES = ("background.tasks.", "services.", "toolbox.", "repositories.")

log = logging.getLogger("toolbox.run_events")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Redactor:
    """Blanks bearer tokens, JWTs, URL passwords and the configured secrets out of a log message."""

    _PATTERNS = (
        (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
        (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted-token]"),
        (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
        (re.compile(r"(?i)((?:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*)[^\s,;&]+"), r"\1[redacted]"),
    )

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        for pattern, replacement in self._PATTERNS:
            text = pattern.sub(replacement, text)
        return text


# One round trip appends an entry (`final` lets followers end without parsing the data), refreshes
# the TTLs, stores a log line in the run's list and counters when given (KEYS[2], KEYS[3]), and
# publishes the entry with the id XADD gave it: a subscriber needs no read to learn the id.
APPEND_SCRIPT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[3], 'data', ARGV[4], 'final', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if KEYS[2] then
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[3], 'lines', ARGV[6], 'bytes', ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
redis.call('PUBLISH', KEYS[1], id .. ' ' .. ARGV[3] .. ' ' .. ARGV[5] .. ' ' .. ARGV[4])
return id
"""
APPEND_SHA = hashlib.sha1(APPEND_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


def append_args(task_id: str, ttl_s: int, kind: str, data: bytes, final: bool,
                counts: tuple[int, int] | None = None) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of APPEND_SCRIPT for one entry (`counts`: the run's log lines and bytes after a log line)."""
    keys = [events_key(task_id)]
    args: list[Any] = [STREAM_MAXLEN, ttl_s, kind, data, 1 if final else 0]
    if counts is not None:
        keys += [logs_key(task_id), logs_meta_key(task_id)]
        args += list(counts)
    return keys, args


def append_entry(client: redis.Redis, task_id: str, ttl_s: int, kind: str, data: bytes, final: bool,
                 counts: tuple[int, int] | None = None) -> None:
    keys, args = append_args(task_id, ttl_s, kind, data, final, counts)
    try:
        client.evalsha(APPEND_SHA, len(keys), *keys, *args)
    except NoScriptError:  # a restarted or flushed server: EVAL loads it again
        client.eval(APPEND_SCRIPT, len(keys), *keys, *args)


def publish_status(client: redis.Redis, task_id: str, ttl_s: int, data: dict[str, Any]) -> None:
    """Append one `status` entry to the run's stream. Never fails the run (logged instead)."""
    try:
        append_entry(client, task_id, ttl_s, "status", orjson.dumps(data, default=str),
                     data.get("status") in TERMINAL)
    except (RedisError, OSError):
        log.warning("could not publish a run event", extra={"task_id": task_id})


class RunLogCapture(logging.Handler):
    """Active only while one run executes (installed at task_prerun, removed at task_postrun).

    Keeps the records of the run's thread from the task's and its services' loggers, redacted,
    bounded by lines and bytes, and writes each at once (list + stream) so followers see it live.
    """

    def __init__(self, client: redis.Redis, task_id: str, task_name: str, ttl_s: int,
                 redactor: Redactor, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> None:
        super().__init__(level=logging.INFO)
        self._client = client
        self.task_id = task_id
        self._task_name = task_name
        self._ttl_s = ttl_s
        self._redact = redactor
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._thread = threading.get_ident()
        self._busy = False
        self._last: logging.LogRecord | None = None
        self._lines, self._bytes, self._truncated = self._load_counts()

    def _load_counts(self) -> tuple[int, int, bool]:
        try:
            meta = self._client.hgetall(logs_meta_key(self.task_id))
        except (RedisError, OSError):
            return 0, 0, False
        def number(name: bytes) -> int:
            return int(meta.get(name, b"0") or 0)
        return number(b"lines"), number(b"bytes"), bool(number(b"truncated"))

    def _wanted(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == self._task_name or name.startswith(CAPTURED_PREFIXES):
            return not name.startswith("toolbox.run_events")
        return False

    def emit(self, record: logging.LogRecord) -> None:
        # The same record reaches this handler once per logger it is attached to: count it once.
        if self._busy or record is self._last or threading.get_ident() != self._thread or not self._wanted(record):
            return
        self._last = record
        self._busy = True
        try:
            self._store(record)
        except Exception:  # noqa: BLE001 - capturing a log line must never fail the run
            pass
        finally:
            self._busy = False

    def _store(self, record: logging.LogRecord) -> None:
        if self._truncated:
            return
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
        message = self._redact(message)[:MAX_MESSAGE]
        line = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": message}
        encoded = orjson.dumps(line)
        meta = logs_meta_key(self.task_id)
        if self._lines + 1 > self._max_lines or self._bytes + len(encoded) > self._max_bytes:
            self._truncated = True
            with self._client.pipeline(transaction=False) as pipe:
                pipe.hset(meta, "truncated", 1)
                pipe.expire(meta, self._ttl_s)
                pipe.execute()
            return
        self._lines += 1
        self._bytes += len(encoded)
        append_entry(self._client, self.task_id, self._ttl_s, "log", encoded, False, (self._lines, self._bytes))


# Celery's task loggers hang under `celery.task`, which does not propagate to the root logger.
_ATTACH_TO = ("", "celery.task", "toolbox")


class _ByThread(logging.Handler):
    """Attached once per process; hands each record to the capture of the run on its thread.

    A prefork child runs one task at a time, a threads or gevent pool several: each has its own.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.captures: dict[int, RunLogCapture] = {}

    def emit(self, record: logging.LogRecord) -> None:
        capture = self.captures.get(threading.get_ident())
        if capture is not None:
            capture.emit(record)


_dispatcher: _ByThread | None = None
_dispatcher_lock = threading.Lock()


def _installed() -> _ByThread:
    global _dispatcher
    with _dispatcher_lock:
        if _dispatcher is None:
            _dispatcher = _ByThread()
            for name in _ATTACH_TO:
                logging.getLogger(name).addHandler(_dispatcher)
        return _dispatcher


def start_capture(capture: RunLogCapture) -> None:
    """Capture the records of the calling thread for this run."""
    _installed().captures[threading.get_ident()] = capture


def stop_capture(task_id: str | None = None) -> None:
    """Stop capturing for the run that ended (whatever runs on this thread when `task_id` is None)."""
    captures = _installed().captures
    thread = threading.get_ident()
    found = captures.get(thread)
    if found is not None and (task_id is None or found.task_id == task_id):
        del captures[thread]
