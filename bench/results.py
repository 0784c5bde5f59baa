"""Keeps bench/RESULTS.md: each benchmark replaces its own `## <title>` section."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = "# Benchmark results\n\nWritten by the benchmarks under `bench/`; each section is replaced by its latest run.\n"


def replace_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the section headed `## {title}` with `body`."""
    text = path.read_text() if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
