"""Task discovery: import every `*_task.py` under background/tasks/ and check what it declared."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from celery import Celery

from background.processors.params import ParameterTypeError
from background.processors.task_base import ToolboxTask

TASKS_ROOT = Path(__file__).resolve().parent.parent / "tasks"
TASKS_PACKAGE = "background.tasks"
TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class DiscoveryError(RuntimeError):
    """A task module could not be imported or declared an invalid task; start-up must stop."""


def task_files(root: Path = TASKS_ROOT) -> list[Path]:
    """Every task module under the tasks root, in a stable order."""
    return sorted(p for p in root.rglob("*_task.py") if "__pycache__" not in p.parts)


def _module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    return ".".join((TASKS_PACKAGE, *relative.parts))


def _line_in(path: Path, exc: BaseException) -> str:
    """`:<line>` of the deepest frame of the traceback inside the task file, if any."""
    line = ""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == str(path):
            line = f":{frame.tb_lineno}"
        frame = frame.tb_next
    if not line and isinstance(exc, SyntaxError) and exc.filename == str(path) and exc.lineno:
        line = f":{exc.lineno}"
    return line


def discover_tasks(app: Celery, root: Path = TASKS_ROOT) -> dict[str, ToolboxTask]:
    """Import every task module (idempotent) and return the discovered tasks by name."""
    # Finalizing first makes each @celery_app.task register at import, so a duplicate name
    # fails inside the module that declares it and the error can name that file.
    app.finalize(auto=True)
    importlib.invalidate_caches()
    for path in task_files(root):
        module_name = _module_name(path, root)
        if module_name in sys.modules:
            continue
        if not all(part.isidentifier() for part in module_name.split(".")):
            raise DiscoveryError(f"{path}: folder and file names under background/tasks must be Python identifiers")
        try:
            importlib.import_module(module_name)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise DiscoveryError(f"{path}{_line_in(path, exc)}: cannot import task module: "
                                 f"{type(exc).__name__}: {exc}") from exc
    found: dict[str, ToolboxTask] = {}
    for name, task in sorted(app.tasks.items()):
        if not (task.__module__ or "").startswith(TASKS_PACKAGE + "."):
            continue
        source = sys.modules[task.__module__].__file__
        if not isinstance(task, ToolboxTask):
            raise DiscoveryError(f"{source}: task {name!r} must be declared with @celery_app.task")
        if not TASK_NAME.match(name):
            raise DiscoveryError(f"{source}: task name {name!r} must be explicit and look like '<domain>.<name>'")
        try:
            # Built now: a bad annotation fails start-up, naming the file, never a request.
            task.check_parameters()
        except ParameterTypeError as exc:
            raise DiscoveryError(f"{source}: task {name!r}: {exc}") from exc
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0]
            raise DiscoveryError(f"{source}: task {name!r}: its parameters are invalid: "
                                 f"{type(exc).__name__}: {first_line}") from exc
        found[name] = task
    return found
