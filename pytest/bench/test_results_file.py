"""bench/results.py keeps RESULTS.md's layout: current sections on top, history below, never touched."""

from __future__ import annotations

from pathlib import Path

from bench.results import HISTORY, replace_section

LAYOUT = (
    "# Benchmark results\n\nintro\n\n"
    "## API\n\nold api table\n\n"
    "## API: what the figures say\n\ncommentary\n\n"
    f"{HISTORY}\n\n"
    "### API (09:59)\n\nSuperseded by ## API.\n\n09:59 figures\n"
)


def test_a_current_section_is_replaced_in_place(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(LAYOUT)
    replace_section(path, "API", "new api table")
    assert path.read_text() == LAYOUT.replace("old api table", "new api table")


def test_a_new_section_goes_before_history(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(LAYOUT)
    replace_section(path, "Discovery at scale", "discovery table")
    text = path.read_text()
    assert text.index("## Discovery at scale\n\ndiscovery table\n") < text.index(HISTORY)
    assert text.replace("## Discovery at scale\n\ndiscovery table\n\n", "") == LAYOUT


def test_without_history_a_new_section_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    replace_section(path, "Domain", "domain table")
    replace_section(path, "Discovery at scale", "discovery table")
    text = path.read_text()
    assert text.startswith("# Benchmark results\n")
    assert text.endswith("## Domain\n\ndomain table\n\n## Discovery at scale\n\ndiscovery table\n")
