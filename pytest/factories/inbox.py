"""Writing CSV batches into the ETL inbox for a test, and removing them afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path


class Inbox:
    """The ETL inbox of the test session (the worker reads the same folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: list[Path] = []

    def batch(self, name: str, **files: str) -> Path:
        """Create batch folder `name` with `<file>.csv` for each keyword (text given without indentation)."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=False)
        self.created.append(folder)
        for file, body in files.items():
            (folder / f"{file}.csv").write_text(body.strip() + "\n", encoding="utf-8")
        return folder

    def clear(self) -> None:
        for folder in self.created:
            shutil.rmtree(folder, ignore_errors=True)
