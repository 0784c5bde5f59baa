"""The catalog of discovered tasks (`/tasks/available`), built once, and name resolution for the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from background.processors.params import TaskParams
from background.processors.schedule_resolution import resolve
from background.processors.task_base import ToolboxTask
from background.schemas.tasks import Catalog as CatalogDocument
from background.schemas.tasks import CatalogEntry
from config.schedule_overrides import overrides_for
from config.settings import get_settings
from schemas.errors import TaskNotFoundError


def kebab(name: str) -> str:
    """`kpi_acumulado` -> `kpi-acumulado`; `toolbox.kpi` -> `toolbox.kpi`."""
    return name.replace("_", "-")


def describe_schedule(task: ToolboxTask) -> Any:
    """The task's cron expression in this environment (declared, or overridden in config), or None."""
    settings = get_settings()
    resolved = resolve(task, overrides_for(settings.environment, settings.schedules.overrides))
    return resolved.expression if resolved is not None else None


@dataclass(frozen=True)
class TaskEntry:
    """One discovered task as the API sees it."""

    task: ToolboxTask
    key: str  # short name, or the full name when short names collide
    path_name: str  # kebab form used in /tasks/execute/<path_name>
    parameters: dict[str, Any] = field(hash=False)

    @property
    def name(self) -> str:
        return str(self.task.name)

    @property
    def params_model(self) -> type[TaskParams]:
        return self.task.params_model

    @property
    def endpoint(self) -> str:
        return f"/tasks/execute/{self.path_name}"

    def as_catalog(self) -> CatalogEntry:
        task = self.task
        return CatalogEntry(
            name=task.name,
            description=task.description,
            endpoint=self.endpoint,
            method="POST",
            module=task.__module__,
            queue=task.declared_queue or task.app.conf.task_default_queue,
            parameters=self.parameters,
            schedule=describe_schedule(task),
            single_run=bool(task.single_run),
        )


class Catalog:
    """Introspects the discovered tasks once and answers catalog and lookup questions."""

    def __init__(self, tasks: dict[str, ToolboxTask]) -> None:
        shorts: dict[str, list[str]] = {}
        for name in tasks:
            shorts.setdefault(name.split(".", 1)[1], []).append(name)
        self.entries: dict[str, TaskEntry] = {}
        self._by_path: dict[str, TaskEntry] = {}
        for name, task in sorted(tasks.items()):
            short = name.split(".", 1)[1]
            key = short if len(shorts[short]) == 1 else name
            entry = TaskEntry(task=task, key=key, path_name=kebab(key),
                              parameters=task.params_model.model_json_schema())
            self.entries[name] = entry
            for alias in {key, kebab(key), name, kebab(name)}:
                self._by_path.setdefault(alias, entry)
        document = CatalogDocument(
            success=True,
            available_tasks={entry.key: entry.as_catalog() for entry in self.entries.values()},
            total_tasks=len(self.entries),
            auto_generated=True,
        )
        # Served as these bytes on every request (routers/tasks.py): rendered once, here.
        self.catalog_bytes = document.__pydantic_serializer__.to_json(document)
        self._catalog = document.model_dump(mode="json")

    @property
    def catalog(self) -> dict[str, Any]:
        """The `/tasks/available` document."""
        return self._catalog

    def resolve(self, name: str) -> TaskEntry:
        """The task behind an execute path name; TaskNotFoundError if none."""
        entry = self._by_path.get(name)
        if entry is None:
            raise TaskNotFoundError(f"No task named {name[:200]!r}.",
                                    description="GET /tasks/available lists the tasks and their endpoints.")
        return entry

    def by_name(self, task_name: str) -> TaskEntry | None:
        """The entry of a full task name, if discovered."""
        return self.entries.get(task_name)
