"""A task domain written into background/tasks/ at run time, with its own worker and API.

This is how the tests prove discovery: nothing but the file is added, then fresh processes
list it, run it and report it. The folder is removed afterwards.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS_ROOT = ROOT / "background" / "tasks"


@dataclass
class ScratchDomain:
    """Where the domain lives and what it is called."""

    name: str
    folder: Path

    @property
    def queue(self) -> str:
        return self.name


@contextmanager
def scratch_domain(files: dict[str, str]) -> Iterator[ScratchDomain]:
    """Write `files` (file name -> source, `{domain}` replaced) into a fresh domain folder."""
    name = f"zz_pytest_{uuid.uuid4().hex[:8]}"
    folder = TASKS_ROOT / name
    folder.mkdir()
    try:
        for file_name, source in files.items():
            (folder / file_name).write_text(source.replace("{domain}", name))
        yield ScratchDomain(name=name, folder=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
