"""Loading CSV batches from the ETL inbox: staged with COPY, checked and upserted set-based."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from config.domain_settings import get_etl_settings
from config.repository_factory import RepositoryFactory
from repositories.etl import EtlRepository
from repositories.etl_files import CSV_FILES, CsvFile
from schemas.errors import EtlError
from schemas.progress import ProgressReporter

UNIQUE_VIOLATION = "23505"

# Lines of this logger become the run's own log (GET /tasks/status/<id>/logs, the console).
log = logging.getLogger(__name__)

BATCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def batch_folder(inbox: Path, name: str) -> Path:
    """The folder of batch `name`, refusing names that could leave the inbox."""
    if not BATCH_NAME.match(name) or ".." in name:
        raise EtlError(f"invalid batch name {name!r}", description="Letters, digits, '_', '-' and '.' only.")
    folder = (inbox / name).resolve()
    if folder.parent != inbox or not folder.is_dir():
        raise EtlError(f"batch {name!r} not found in the ETL inbox", description=str(inbox))
    return folder


def pending_batches(inbox: Path, loaded: set[str]) -> list[str]:
    """Batch folders of the inbox not loaded yet, by name (extracts are named so that order is time order)."""
    if not inbox.is_dir():
        return []
    return sorted(p.name for p in inbox.iterdir() if p.is_dir() and BATCH_NAME.match(p.name) and p.name not in loaded)


def _first_line_and_count(path: Path) -> tuple[str, int]:
    """The header (without a byte-order mark or line break) and the number of lines after it.

    Reads the file in 1 MiB blocks and counts line breaks: constant memory, no loop over rows.
    """
    lines, last = 0, b"\n"
    with path.open("rb") as raw:
        first = raw.readline()
        raw.seek(0)
        while block := raw.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    header = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    return header, max(lines - 1, 0)


async def _load_file(repo: EtlRepository, batch: str, folder: Path, spec: CsvFile) -> dict[str, int] | None:
    path = folder / spec.filename
    if not path.is_file():
        return None
    first, data_lines = _first_line_and_count(path)
    header = [c.strip().lower() for c in first.split(",")]
    if path.stat().st_size == 0 or tuple(header) != spec.columns:
        raise EtlError(f"{batch}/{spec.filename}: the header must be {','.join(spec.columns)}",
                       description=f"found: {','.join(header)}")
    skipped = await repo.stage_fields(path, spec, data_lines)
    exact = skipped is None or bool(skipped)  # COPY could not read the file, or left lines out: the exact checks
    if skipped is None:
        await repo.stage(path)
        await repo.split(spec)
    elif skipped:
        await repo.stage(path)
        await repo.split_skipped(spec, skipped)
    # the line as written is staged with every line only on the exact path; else it is fetched for the rejects
    written = skipped is None
    if not await repo.is_empty(spec.name):
        rejected = await _keep_rejects(repo, batch, path, spec, exact=exact, written=written, duplicates=True)
        inserted, updated = await repo.upsert(spec, exact=exact)
        return {"loaded": inserted, "updated": updated, "rejected": rejected}
    # A first load into an empty table. Extracts rarely repeat a key, and looking for repeats costs
    # a hash of every key (~1 s per million lines), so the load first goes without: a repeated key
    # then breaks the unique key built over the loaded rows, or (its first line rejected, a later
    # one loaded) shows as a rejected line whose key was loaded; either way the load of this file
    # starts over from its staged lines, looking for them, and gives the answer an upsert gives.
    # (An upsert cannot go without: a repeated key whose first line changes nothing would not make it fail.)
    await repo.savepoint("etl_file")
    try:
        counts = await _first_load(repo, batch, path, spec, data_lines, exact=exact, written=written, duplicates=False)
        repeated = bool(counts["rejected"]) and await repo.rejected_key_loaded(spec, batch, exact=exact)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        repeated = True
    if repeated:
        await repo.rollback_to("etl_file")
        counts = await _first_load(repo, batch, path, spec, data_lines, exact=exact, written=written, duplicates=True)
    await repo.release("etl_file")
    return counts


async def _keep_rejects(repo: EtlRepository, batch: str, path: Path, spec: CsvFile, *, exact: bool, written: bool,
                        duplicates: bool) -> int:
    rejected = await repo.keep_rejects(spec, batch, exact=exact, duplicates=duplicates)
    if rejected and not written:
        await repo.fill_reject_lines(path, batch, spec.name)
    return rejected


async def _first_load(repo: EtlRepository, batch: str, path: Path, spec: CsvFile, data_lines: int, *, exact: bool,
                      written: bool, duplicates: bool) -> dict[str, int]:
    """Insert the good lines, then, only when some line was left out, check every line for its reason:
    a clean file (the usual case) is checked once, by the insert's own filter."""
    loaded = await repo.fill_empty(spec, repo.good_lines(spec, exact=exact, duplicates=duplicates, parallel=True))
    if loaded is None:  # a table a swap cannot replace: row by row
        source = repo.good_lines(spec, exact=exact, duplicates=duplicates)
        loaded = await repo.insert_into_empty(spec.name, f"{source} {spec.insert}")
    rejected = 0
    if loaded < data_lines:
        rejected = await _keep_rejects(repo, batch, path, spec, exact=exact, written=written, duplicates=duplicates)
    return {"loaded": loaded, "updated": 0, "rejected": rejected}


async def load_batch(repositories: RepositoryFactory, progress: ProgressReporter, batch: str, folder: Path,
                     step: int, total: int) -> dict[str, Any]:
    """Load every file of one batch in one transaction; record the outcome in `etl_batches`."""
    counts: dict[str, Any] = {}
    try:
        async with repositories.unit_of_work() as uow:
            repo = uow.repo(EtlRepository)
            await repo.serialise("etl")
            await repo.lock_loaded(await repo.load_lock_mode())
            await repo.tune()
            await repo.forget_rejects(batch)
            await repo.make_calendar()
            for spec in CSV_FILES:
                progress.update(step, total, f"{batch}: loading {spec.filename}")
                found = await _load_file(repo, batch, folder, spec)
                if found is not None:
                    counts[spec.name] = found
                    log.info("%s/%s: %d loaded, %d updated, %d rejected", batch, spec.filename,
                             found["loaded"], found["updated"], found["rejected"])
            if not counts:
                raise EtlError(f"batch {batch!r} has none of {', '.join(s.filename for s in CSV_FILES)}")
            await repo.drop_staging()
            await repo.record_batch(batch, "loaded", counts, None)
    except Exception as exc:
        # The load rolled back as a whole; remember why, so the batch shows as failed and stays pending.
        log.error("batch %s failed and was rolled back: %s: %s", batch, type(exc).__name__, exc)
        async with repositories.unit_of_work() as uow:
            await uow.repo(EtlRepository).record_batch(batch, "failed", None, f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return counts


async def run_etl(repositories: RepositoryFactory, progress: ProgressReporter, batch: str | None = None) -> dict[str, Any]:
    """Load `batch`, or every batch of the inbox not loaded yet; per batch and file: loaded, updated, rejected."""
    inbox = get_etl_settings().inbox_path()
    if batch is not None:
        names = [batch]
        folders = {batch: batch_folder(inbox, batch)}
    else:
        async with repositories.unit_of_work() as uow:
            loaded = await uow.repo(EtlRepository).loaded_batches()
        names = pending_batches(inbox, loaded)
        folders = {name: batch_folder(inbox, name) for name in names}
    results: dict[str, Any] = {}
    for i, name in enumerate(names):
        results[name] = await load_batch(repositories, progress, name, folders[name], i, len(names))
    progress.update(len(names), len(names), f"{len(names)} batches loaded")
    totals = {key: sum(f[key] for counts in results.values() for f in counts.values())
              for key in ("loaded", "updated", "rejected")}
    return {"inbox": str(inbox), "batches": results, "totals": totals}
