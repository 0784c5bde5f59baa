"""`toolbox run NAME key=value ...`: run one task in this process, for debugging."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("run", help="run one task in-process (no broker, no worker)")
    parser.add_argument("name", help="task name, short name or kebab name")
    parser.add_argument("params", nargs="*", help="key=value (value parsed as JSON when it can be)")
    parser.set_defaults(handler=run)


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from background.processors.base import BaseProcessor
    from config.celery_config import discovered_tasks
    from services.errors import AppError

    try:
        entry = BaseProcessor(discovered_tasks).resolve(args.name)
    except AppError as exc:
        print(exc.message)
        return 2
    kwargs = dict(item.split("=", 1) for item in args.params)
    try:
        params = entry.params_model.model_validate({k: _value(v) for k, v in kwargs.items()})
    except ValidationError as exc:
        print(exc)
        return 2
    result = entry.task.apply(kwargs=params.model_dump(mode="json", exclude_unset=True))
    print(json.dumps({"status": result.status, "result": result.result if result.successful() else str(result.result)},
                     indent=2, default=str))
    return 0 if result.successful() else 1
