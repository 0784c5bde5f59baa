"""One `toolbox up` per folder: an advisory lock on var/up.lock held for the run's whole life.

The kernel drops a `flock` when its holder dies, however it dies, so a lock is never stale: a
second `toolbox up` that cannot take it knows the first one is alive (and refuses, leaving it
alone), and one that can take it knows whatever var/up.pids names was left by a dead run (and
stops it). The file also says who holds it, for the refusal message. The descriptor is not
inherited by children (Python opens files non-inheritable), so leftover servers never hold it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import orjson


class AlreadyRunning(RuntimeError):
    """Another live `toolbox up` holds the folder's lock."""


class InstanceLock:
    """The lock of one folder's `toolbox up`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, api_url: str) -> None:
        """Take the lock and record this process and its API; AlreadyRunning if another holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise AlreadyRunning(f"already running: pid {holder.get('pid', '?')}, "
                                 f"API at {holder.get('api_url', '?')} (folder {self.path.parent})") from None
        self._fd = fd
        self.record(api_url)

    def record(self, api_url: str) -> None:
        """Write this process and its API URL (again once the API's port is chosen)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, orjson.dumps({"pid": os.getpid(), "api_url": api_url}), 0)

    def release(self) -> None:
        # The file stays: removing it could let two runs lock two different files of one name.
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)


def _read(fd: int) -> dict[str, object]:
    try:
        value = orjson.loads(os.pread(fd, 4096, 0) or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
