"""Task files sit in the tasks layer of the import direction (README, Layout).

`lint-imports` cannot see them (their domain folders have no `__init__.py`: discovery imports them
by path), so this reads each one's imports: a task uses services, the task runtime, repositories
and the foundation, and the Celery app it is declared on; never an HTTP router or `main`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABOVE_TASKS = ("main", "routers", "background.routers", "config.cli", "config.commands", "config.local_stack")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_task_file_imports_a_layer_above_the_tasks() -> None:
    files = sorted((ROOT / "background" / "tasks").rglob("*_task.py"))
    assert files, "no task file found under background/tasks/"
    wrong = {
        str(path.relative_to(ROOT)): sorted(name for name in _imports(path)
                                            if any(name == top or name.startswith(top + ".") for top in ABOVE_TASKS))
        for path in files
    }
    assert {path: names for path, names in wrong.items() if names} == {}
