"""The benchmark's table, printed and written under "## Domain" in bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.results import replace_section


@dataclass(frozen=True)
class Row:
    """One measured step: seconds, the floor it is compared with, peak RSS of its process."""

    size: int
    step: str
    seconds: float
    floor_s: float | None
    rss_mib: float | None
    growth_mib: float | None
    note: str | None
    # When set, the "× floor" column: the median of same-round ratios (task ÷ the floor measured
    # right before it) instead of seconds ÷ floor_s.
    ratio: float | None = None


def render(rows: list[Row]) -> str:
    """A Markdown table."""
    lines = ["| operations | step | seconds | × floor | peak RSS (MiB) | RSS growth in task (MiB) | note |",
             "|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        value = r.ratio if r.ratio is not None else (r.seconds / r.floor_s if r.floor_s else None)
        ratio = f"{value:.2f}" if value is not None else ""
        rss = f"{r.rss_mib:.0f}" if r.rss_mib is not None else ""
        grew = f"{r.growth_mib:.1f}" if r.growth_mib is not None else ""
        lines.append(f"| {r.size:,} | {r.step} | {r.seconds:.2f} | {ratio} | {rss} | {grew} | {r.note or ''} |")
    return "\n".join(lines)


def write_results(path: Path, table: str) -> None:
    """Replace the "## Domain" section of RESULTS.md (other sections are kept)."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    # replace_section matches the whole heading line: a bare prefix search for "## Domain" would also
    # hit "## Domain: what the figures say" and the demoted "### Domain…" entries of the history.
    replace_section(path, "Domain", (
        f"`uv run python -m bench.domain` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}, "
        "embedded PostgreSQL 18 (fsync off, wal_level minimal as `toolbox up` runs it).\nEach task runs "
        "in a fresh process as a worker runs it (`task.apply`, as `toolbox run` does); seconds are the "
        "task's own run time, the fastest of the runs (`--repeat`, 2 by default; each ETL run is a first "
        "load into emptied tables, as is each floor COPY); peak RSS is the "
        "process's (imports included) and the growth column is peak minus the RSS just before the task. "
        "Each run of a task comes right after a run of its floor (COPY + keys for the ETL, one GROUP BY "
        "scan of operations and payments for the rebuilds, each rebuild and its scan on a settled "
        "database: `vacuum analyze` and a checkpoint first, outside the timing); a rebuild's \"× floor\" "
        "and the ETL's \"× COPY + keys\" are the medians of those same-round ratios. tablas_reportes "
        "rebuilds an empty table and changes a filled one in place, so it is measured both ways: with the "
        "table emptied before each run, and after each of `--repeat` daily batches (1% of the operations "
        "again, other values, loaded by a later ETL run before the floor, outside the timing).\n\n" + table))
