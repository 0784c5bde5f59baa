"""`toolbox demo-data`: write a deterministic batch of synthetic CSV extracts into the ETL inbox."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("demo-data", help="write synthetic factoring CSVs into the ETL inbox")
    parser.add_argument("--operations", type=int, default=10_000, help="number of operations (default 10000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed: same seed, same files")
    parser.add_argument("--batch", default=None, help="batch folder name (default demo-<operations>-s<seed>)")
    parser.add_argument("--out", type=Path, default=None, help="inbox folder (default ETL_INBOX)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from config.domain_settings import get_etl_settings
    from services.demo_data import write_batch
    from services.factoring.etl import BATCH_NAME

    if args.operations < 1:
        print("--operations must be at least 1")
        return 2
    name = args.batch or f"demo-{args.operations}-s{args.seed}"
    if not BATCH_NAME.match(name):
        print(f"invalid batch name {name!r}")
        return 2
    folder = (args.out or get_etl_settings().inbox_path()) / name
    started = time.perf_counter()
    counts = write_batch(folder, args.operations, args.seed)
    print(f"wrote {folder} in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{k}={v}" for k, v in counts.items()))
    print(f"rates for the csv provider: RATES_PROVIDER=csv RATES_CSV_PATH={folder / 'exchange_rates.csv'}")
    return 0
