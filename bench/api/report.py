"""Tables for bench/api: medians over rounds, medians of same-round ratios, per-round figures."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

Rounds = list[dict[str, float]]  # one dict of figures per round


@dataclass
class Results:
    """Per service, per round, named figures (req/s, ms, µs of CPU per request)."""

    services: list[str]
    rounds: dict[str, Rounds] = field(default_factory=dict)
    orders: list[list[str]] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average at the start of each round

    def add(self, service: str, round_no: int, figures: dict[str, float]) -> None:
        per_round = self.rounds.setdefault(service, [])
        while len(per_round) <= round_no:
            per_round.append({})
        per_round[round_no].update(figures)

    def median(self, service: str, key: str) -> float:
        values = [r[key] for r in self.rounds.get(service, []) if key in r]
        return statistics.median(values) if values else float("nan")

    def ratios(self, service: str, baseline: str, key: str) -> list[float]:
        return [a[key] / b[key] for a, b in zip(self.rounds.get(service, []), self.rounds.get(baseline, []))
                if key in a and key in b and b[key]]


ROWS: list[tuple[str, str, str]] = [
    ("exec_rps", "execute req/s (worker paused)", "{:.0f}"),
    ("exec_p99", "execute p99 ms", "{:.1f}"),
    ("exec_cpu", "execute: server CPU µs/request", "{:.0f}"),
    ("exec_redis", "execute: Redis CPU µs/request", "{:.0f}"),
    ("exec_pg", "execute: PostgreSQL CPU µs/request", "{:.0f}"),
    ("status_rps", "status of a finished run, req/s", "{:.0f}"),
    ("status_p99", "status p99 ms", "{:.1f}"),
    ("status_cpu", "status: server CPU µs/request", "{:.0f}"),
    ("status_redis", "status: Redis CPU µs/request", "{:.0f}"),
    ("status_pg", "status: PostgreSQL CPU µs/request", "{:.0f}"),
    ("e2e_p50", "end-to-end p50 ms (one at a time, poll every 5 ms)", "{:.1f}"),
    ("e2e_p99", "end-to-end p99 ms", "{:.1f}"),
    ("wait_p50", "end-to-end p50 ms with ?wait=", "{:.1f}"),
    ("raw_p50", "raw delay().get() p50 ms (no HTTP)", "{:.1f}"),
    ("catalog_rps", "/tasks/available req/s", "{:.0f}"),
    ("catalog_p99", "/tasks/available p99 ms", "{:.1f}"),
    ("catalog_cpu", "/tasks/available: server CPU µs/request", "{:.0f}"),
    ("errors", "failed requests (non-2xx, socket errors), all rounds", "{:.0f}"),
]


def _cell(value: float, fmt: str) -> str:
    return "" if value != value else fmt.format(value)  # NaN: not measured for this service


def figures_table(results: Results) -> list[str]:
    lines = ["| median over rounds | " + " | ".join(results.services) + " |",
             "|---|" + "---:|" * len(results.services)]
    for key, label, fmt in ROWS:
        if key == "errors":
            cells = [_cell(sum(r.get(key, 0.0) for r in results.rounds.get(s, [])), fmt) for s in results.services]
        else:
            cells = [_cell(results.median(s, key), fmt) for s in results.services]
        if any(cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _ratio_cell(values: list[float]) -> str:
    if not values:
        return ""
    return f"{statistics.median(values):.2f}× ({min(values):.2f}–{max(values):.2f})"


RATIO_KEYS = [("exec_rps", "execute req/s"), ("exec_p99", "execute p99"), ("exec_cpu", "execute server CPU/request"),
              ("status_rps", "status req/s"), ("status_p99", "status p99"),
              ("status_cpu", "status server CPU/request"), ("e2e_p50", "end-to-end p50 (5 ms polling)")]
PAIRS = [("toolbox", "naive"), ("naive2", "naive"), ("flower", "naive"), ("toolbox", "flower")]


def ratio_table(results: Results) -> list[str]:
    pairs = [p for p in PAIRS if p[0] in results.rounds and p[1] in results.rounds]
    lines = ["| median of same-round ratios (range) | " + " | ".join(f"{a} ÷ {b}" for a, b in pairs) + " |",
             "|---|" + "---:|" * len(pairs)]
    for key, label in RATIO_KEYS:
        lines.append(f"| {label} | " + " | ".join(_ratio_cell(results.ratios(a, b, key)) for a, b in pairs) + " |")
    return lines


def _target(label: str, value: float, ok: Callable[[float], bool], fmt: str) -> str:
    if value != value:
        return f"| {label} | not measured | |"
    return f"| {label} | {fmt.format(value)} | {'yes' if ok(value) else 'NO'} |"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def targets_table(results: Results) -> list[str]:
    wait_gap = [r["wait_p50"] - r["raw_p50"] for r in results.rounds.get("toolbox", []) if "wait_p50" in r and "raw_p50" in r]
    return [
        "| target (issue 14) | measured | met |", "|---|---:|---|",
        _target("execute req/s ≥ 2.5× naive", _median(results.ratios("toolbox", "naive", "exec_rps")), lambda v: v >= 2.5, "{:.2f}×"),
        _target("execute p99 ≤ naive's", _median(results.ratios("toolbox", "naive", "exec_p99")), lambda v: v <= 1.0, "{:.2f}×"),
        _target("status req/s ≥ 2× naive", _median(results.ratios("toolbox", "naive", "status_rps")), lambda v: v >= 2.0, "{:.2f}×"),
        _target("end-to-end p50 ≤ 0.9× naive", _median(results.ratios("toolbox", "naive", "e2e_p50")), lambda v: v <= 0.9, "{:.2f}×"),
        _target("?wait= p50 within 5 ms of delay().get()", _median(wait_gap), lambda v: v <= 5.0, "{:+.1f} ms"),
        _target("execute req/s ≥ 4× Flower", _median(results.ratios("toolbox", "flower", "exec_rps")), lambda v: v >= 4.0, "{:.2f}×"),
        _target("status req/s ≥ 4× Flower", _median(results.ratios("toolbox", "flower", "status_rps")), lambda v: v >= 4.0, "{:.2f}×"),
    ]


def rounds_table(results: Results) -> list[str]:
    keys = [("exec_rps", "execute req/s"), ("exec_cpu", "execute CPU µs"), ("status_rps", "status req/s"),
            ("status_cpu", "status CPU µs"), ("e2e_p50", "e2e p50 ms")]
    lines = ["| round | order (load) | figure | " + " | ".join(results.services) + " |",
             "|---:|---|---|" + "---:|" * len(results.services)]
    for round_no, order in enumerate(results.orders):
        load = f" ({results.loads[round_no]:.1f})" if round_no < len(results.loads) else ""
        for key, label in keys:
            cells = []
            for service in results.services:
                rounds = results.rounds.get(service, [])
                value = rounds[round_no].get(key, float("nan")) if round_no < len(rounds) else float("nan")
                cells.append(_cell(value, "{:.1f}" if key == "e2e_p50" else "{:.0f}"))
            lines.append(f"| {round_no + 1} | {' → '.join(order)}{load} | {label} | " + " | ".join(cells) + " |")
    return lines
