"""Size-rotated log files for `toolbox up`: its children's output and the embedded servers' logs.

Each child writes to a pipe; a thread of `toolbox up` copies the pipe line by line into
`var/log/<name>.log`, which rotates at LOG_MAX_BYTES into `<name>.log.1` … `<name>.log.<LOG_BACKUPS>`,
so a chatty worker cannot fill the disk.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
from pathlib import Path
from typing import IO


class RotatingOutput:
    """One rotated log file fed by the output streams of the processes that use it, in turn."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self._handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                             encoding="utf-8", errors="replace")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._threads: list[threading.Thread] = []

    def follow(self, stream: IO[bytes] | None) -> threading.Thread | None:
        """Copy `stream` into the file until the process closes it (a daemon thread)."""
        if stream is None:
            return None
        thread = threading.Thread(target=self._copy, args=(stream,), name=f"log:{self.path.name}", daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        return thread

    def drain(self, timeout: float = 2.0) -> None:
        """Wait (a little) until what exited processes wrote is in the file."""
        for thread in self._threads:
            thread.join(timeout)

    def _copy(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                # msg without args: a '%' in the child's line is printed as is.
                self._handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))

    def close(self) -> None:
        """Close the file (after the processes feeding it have stopped)."""
        self.drain()
        self._handler.close()
