"""Keeps bench/RESULTS.md: each benchmark replaces its own `## <title>` section in the current part."""

from __future__ import annotations

import re
from pathlib import Path

HISTORY = "## History (superseded runs)"

HEADER = (
    "# Benchmark results\n\n"
    "Current part first: one `## ` section per benchmark configuration, replaced in place by that"
    " bench's latest run (`bench/results.py`), then hand-written `## …: what the figures say` sections."
    f" Below `{HISTORY}`: older runs, newest first, with `###` headings so no bench ever matches or"
    " rewrites them. A rerun overwrites the current figures: move those worth keeping into History first.\n"
)


def replace_section(path: Path, title: str, body: str) -> None:
    """Replace the section headed `## {title}` with `body`; a new one goes before History, else at the end."""
    text = path.read_text() if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = _insert_before_history(text, section)
    path.write_text(text)


def _insert_before_history(text: str, section: str) -> str:
    """A new current section must not land after History, where a reader takes it for superseded."""
    history = re.search(rf"^{re.escape(HISTORY)}$", text, re.M)
    if history is None:
        return text.rstrip() + "\n\n" + section
    before, after = text[: history.start()], text[history.start():]
    return before.rstrip() + "\n\n" + section + "\n" + after
