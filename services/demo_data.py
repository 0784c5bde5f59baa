"""Deterministic synthetic CSV extracts for the demo and the benchmark.

Rows are streamed to the files in chunks (constant memory). A seed gives the same files byte
for byte. Operations span START + SPAN_DAYS (over two years), in PEN and USD, with every status
and with full, late, partial and missing payments; rates skip weekends and holidays.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

START = date(2023, 1, 2)
SPAN_DAYS = 2 * 365 + 90
EXTRACT_DAY = START + timedelta(days=SPAN_DAYS + 60)  # "today" of the extract: later payments do not exist yet
HOLIDAYS = {(1, 1), (5, 1), (6, 29), (7, 28), (7, 29), (8, 30), (10, 8), (11, 1), (12, 8), (12, 25)}
CHUNK = 20_000
_DAY = [START + timedelta(days=i) for i in range(SPAN_DAYS + 400)]  # date -> ISO text without strftime per row
_ISO = [d.isoformat() for d in _DAY]


def _flush(out: TextIO, lines: list[str]) -> None:
    out.write("".join(lines))
    lines.clear()


def _write_parties(path: Path, prefix: str, count: int, kind: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("tax_id,name\n")
        out.writelines(f"{prefix}{i:09d},{kind} {i:06d} S.A.C.\n" for i in range(1, count + 1))


def _rates(rng: random.Random) -> Iterator[str]:
    sell = 3.75
    day = START - timedelta(days=10)
    while day <= EXTRACT_DAY:
        sell = min(4.10, max(3.40, sell + rng.uniform(-0.012, 0.012)))
        if day.weekday() < 5 and (day.month, day.day) not in HOLIDAYS:
            yield f"{day.isoformat()},{sell - 0.012:.4f},{sell:.4f}\n"
        day += timedelta(days=1)


def _payments(rng: random.Random, code: str, face: float, disbursed: int, due: int, extract: int,
              cancelled: bool) -> tuple[str, list[str]]:
    """(status, payment lines) of one operation; day numbers are offsets from START."""
    if cancelled:
        return "cancelled", []
    u = rng.random()
    if due > extract:  # not due yet: some early partial payments
        if u < 0.3:
            day = min(extract, disbursed + 1 + int((extract - disbursed) * rng.random()))
            return "active", [f"{code}-1,{code},{_ISO[day]},{face * 0.4:.2f}\n"]
        return "active", []
    if u < 0.50:  # on time, in one payment
        return "paid", [f"{code}-1,{code},{_ISO[max(disbursed, due - int(10 * rng.random()))]},{face:.2f}\n"]
    if u < 0.70:  # late, in two payments
        late = min(extract, due + 1 + int(90 * rng.random()))
        half = round(face / 2, 2)
        return "paid", [f"{code}-1,{code},{_ISO[due]},{half:.2f}\n", f"{code}-2,{code},{_ISO[late]},{face - half:.2f}\n"]
    if u < 0.85:  # partial
        share = 0.2 + 0.6 * rng.random()
        overdue = extract - due
        return ("defaulted" if overdue > 90 else "active"), [f"{code}-1,{code},{_ISO[due]},{face * share:.2f}\n"]
    return ("defaulted" if extract - due > 60 else "active"), []  # nothing paid


def write_batch(folder: Path, operations: int, seed: int) -> dict[str, int]:
    """Write clients, debtors, operations, payments and exchange_rates CSVs into `folder`; row counts."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    clients, debtors = max(5, operations // 200), max(10, operations // 50)
    _write_parties(folder / "clients.csv", "20", clients, "Cliente")
    _write_parties(folder / "debtors.csv", "10", debtors, "Deudor")
    extract = (EXTRACT_DAY - START).days
    paid_lines = 0
    with (folder / "operations.csv").open("w", encoding="utf-8", newline="") as ops, \
            (folder / "payments.csv").open("w", encoding="utf-8", newline="") as pays:
        ops.write("code,client_tax_id,debtor_tax_id,currency,face_value,advance_pct,monthly_rate,commission,"
                  "disbursed_on,due_on,status\n")
        pays.write("code,operation_code,paid_on,amount\n")
        op_lines: list[str] = []
        pay_lines: list[str] = []
        rand, randrange = rng.random, rng.randrange
        for i in range(1, operations + 1):
            code = f"OP{i:09d}"
            usd = rand() < 0.3
            face = round((500 + 60_000 * rand() ** 3) / (3.7 if usd else 1), 2)
            disbursed = int(SPAN_DAYS * rand())
            due = disbursed + 15 + randrange(0, 106)
            status, lines = _payments(rng, code, face, disbursed, due, extract, rand() < 0.03)
            op_lines.append(f"{code},20{1 + randrange(clients):09d},10{1 + randrange(debtors):09d},"
                            f"{'USD' if usd else 'PEN'},{face:.2f},{70 + 5 * randrange(0, 7)},"
                            f"{0.01 + 0.02 * rand():.6f},{(25 if usd else 90) if rand() < 0.6 else 0},"
                            f"{_ISO[disbursed]},{_ISO[due]},{status}\n")
            pay_lines += lines
            paid_lines += len(lines)
            if len(op_lines) >= CHUNK:
                _flush(ops, op_lines)
                _flush(pays, pay_lines)
        _flush(ops, op_lines)
        _flush(pays, pay_lines)
    rates = 0
    with (folder / "exchange_rates.csv").open("w", encoding="utf-8", newline="") as out:
        out.write("date,buy,sell\n")
        for line in _rates(rng):
            out.write(line)
            rates += 1
    return {"clients": clients, "debtors": debtors, "operations": operations, "payments": paid_lines,
            "exchange_rates": rates}
