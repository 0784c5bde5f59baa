"""What a service needs to report progress: the task runtime's `Progress` (background/processors/progress.py)
is one; a test or a command may pass any other object with this method."""

from __future__ import annotations

from typing import Protocol


class ProgressReporter(Protocol):
    """`update(current, total, message)`: `current` of `total` steps done, with a one-line message."""

    def update(self, current: int, total: int | None = None, message: str = "") -> None: ...
