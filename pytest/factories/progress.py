"""Progress doubles: one that records, one that fails at a chosen step (to break a rebuild midway)."""

from __future__ import annotations

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
