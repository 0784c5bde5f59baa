"""`toolbox run NAME key=value ...`: run one task in this process, for debugging.

No broker and no worker: progress lines go to stderr, then the result (or the error) is printed
on stdout as JSON; the exit code is 0 for SUCCESS and 1 for FAILURE. Beside a running
`toolbox up` it uses that stack's database (see config/up_env.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from config.commands import CommandError, explain


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


def parse_params(items: list[str]) -> dict[str, Any]:
    """`key=value` words as a dict (values parsed as JSON when they can be)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CommandError(f"parameter {item!r} must be written key=value (e.g. schema_name=public)")
        params[key] = _value(raw)
    return params


def _progress_to_terminal() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    progress = logging.getLogger("toolbox.progress")
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from background.processors.base import BaseProcessor
    from config.celery_config import discovered_tasks
    from schemas.errors import AppError

    params = parse_params(args.params)
    try:
        entry = BaseProcessor(discovered_tasks).resolve(args.name)
    except AppError as exc:
        raise CommandError(f"{exc.message} `uv run toolbox tasks` lists the tasks.") from None
    try:
        validated = entry.params_model.model_validate(params)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}" for e in exc.errors())
        raise CommandError(f"invalid parameters for {entry.name}: {fields}") from None
    _progress_to_terminal()
    result = entry.task.apply(kwargs=validated.model_dump(mode="json", exclude_unset=True))
    if result.successful():
        print(json.dumps({"status": result.status, "result": result.result}, indent=2, default=str))
        return 0
    error = result.result
    known = explain(error, None) if isinstance(error, BaseException) else None
    if known is None and result.traceback:
        # The task's own bug: its traceback helps; a server that does not answer needs one line.
        print(str(result.traceback).rstrip(), file=sys.stderr)
    text = known or (f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error))
    print(json.dumps({"status": result.status, "error": text}, indent=2, default=str))
    return 1
