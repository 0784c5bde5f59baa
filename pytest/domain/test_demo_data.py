"""`toolbox demo-data`: deterministic files covering every case the reports must handle."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

from config.cli import main
from services.demo_data import write_batch

FILES = ("clients", "debtors", "operations", "payments", "exchange_rates")


def read(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_batch(tmp_path / "a", 300, seed=7)
    write_batch(tmp_path / "b", 300, seed=7)
    write_batch(tmp_path / "c", 300, seed=8)

    for name in FILES:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()
    assert (tmp_path / "a" / "operations.csv").read_bytes() != (tmp_path / "c" / "operations.csv").read_bytes()


def test_the_data_covers_statuses_currencies_payment_kinds_and_rate_gaps(tmp_path: Path) -> None:
    counts = write_batch(tmp_path, 2000, seed=1)
    operations = read(tmp_path, "operations")
    payments = read(tmp_path, "payments")
    rates = read(tmp_path, "exchange_rates")

    assert counts["operations"] == len(operations) == 2000 and counts["payments"] == len(payments)
    assert set(Counter(o["status"] for o in operations)) == {"active", "paid", "defaulted", "cancelled"}
    assert set(o["currency"] for o in operations) == {"PEN", "USD"}
    disbursed = sorted(date.fromisoformat(o["disbursed_on"]) for o in operations)
    assert (disbursed[-1] - disbursed[0]).days >= 2 * 365
    by_op: dict[str, list[dict[str, str]]] = {}
    for p in payments:
        by_op.setdefault(p["operation_code"], []).append(p)
    kinds = Counter()
    for o in operations:
        paid = sum(float(p["amount"]) for p in by_op.get(o["code"], []))
        late = any(p["paid_on"] > o["due_on"] for p in by_op.get(o["code"], []))
        kinds["missing" if not paid else "full" if abs(paid - float(o["face_value"])) < 0.01 else "partial"] += 1
        kinds["late"] += late
    assert min(kinds["missing"], kinds["full"], kinds["partial"], kinds["late"]) > 0
    days = [date.fromisoformat(r["date"]) for r in rates]
    assert days[0] <= disbursed[0] and all(d.weekday() < 5 for d in days)
    assert date(2024, 12, 25) not in days and date(2024, 12, 24) in days  # a holiday and the day before


def test_the_command_writes_into_the_inbox_folder(tmp_path: Path, capsys: object) -> None:
    try:
        main(["demo-data", "--operations", "50", "--seed", "3", "--out", str(tmp_path)])
    except SystemExit as done:
        assert done.code == 0
    assert sorted(p.name for p in (tmp_path / "demo-50-s3").iterdir()) == sorted(f"{n}.csv" for n in FILES)
