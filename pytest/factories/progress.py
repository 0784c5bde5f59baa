"""Progress doubles: one that records, one that fails and one that pauses at a chosen step (mid-rebuild)."""

from __future__ import annotations

import threading

from background.processors.progress import Progress


class RecordingProgress(Progress):
    """Keeps every update instead of sending it to a result backend."""

    def __init__(self) -> None:
        super().__init__(None)
        self.updates: list[tuple[int, int | None, str]] = []

    def update(self, current: int, total: int | None = None, message: str = "") -> None:
        self.updates.append((current, total, message))


class InjectedFailure(RuntimeError):
    """Raised by FailingProgress."""


class FailingProgress(RecordingProgress):
    """Raises when a message starting with `prefix` is reported: the rebuild dies between two statements."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def update(self, current: int, total: int | None = None, message: str = "") -> None:
        super().update(current, total, message)
        if message.startswith(self.prefix):
            raise InjectedFailure(f"injected at {message!r}")


class PausingProgress(RecordingProgress):
    """Blocks the rebuild (and its event loop) when a message starting with `prefix` is reported, until
    `release` is set from another thread: that thread can look at the database mid-rebuild."""

    def __init__(self, prefix: str, timeout: float = 30.0) -> None:
        super().__init__()
        self.prefix, self.timeout = prefix, timeout
        self.reached, self.release = threading.Event(), threading.Event()

    def update(self, current: int, total: int | None = None, message: str = "") -> None:
        super().update(current, total, message)
        if message.startswith(self.prefix):
            self.reached.set()
            if not self.release.wait(self.timeout):
                raise InjectedFailure(f"nobody released the pause at {message!r}")
