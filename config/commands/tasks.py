"""`toolbox tasks`: list the discovered tasks (discovery errors stop it, naming the file)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("tasks", help="list discovered tasks")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from background.processors.base import BaseProcessor
    from config.celery_config import discovered_tasks

    processor = BaseProcessor(discovered_tasks)
    for entry in processor.entries.values():
        catalog = entry.as_catalog()
        schedule = f"  schedule: {catalog.schedule}" if catalog.schedule else ""
        print(f"{entry.name:32} POST {entry.endpoint:36} queue={catalog.queue}{schedule}")
        if entry.task.description:
            print(f"{'':32} {entry.task.description}")
    print(f"{len(processor.entries)} tasks")
    return 0
