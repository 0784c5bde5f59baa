"""Every discovered task has a unique, explicit `<domain>.<name>` name and a usable schema."""

from __future__ import annotations

import re

from background.processors.base import BaseProcessor
from config.celery_config import celery_app, discovered_tasks


def test_every_discovered_name_is_unique_and_follows_the_pattern() -> None:
    names = list(discovered_tasks)
    assert names, "no task discovered"
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", name), name


def test_celery_builtins_are_not_in_the_catalog() -> None:
    catalog = BaseProcessor(discovered_tasks).catalog
    assert "celery.chord_unlock" in celery_app.tasks
    listed = {entry["name"] for entry in catalog["available_tasks"].values()}
    assert listed == set(discovered_tasks)
    assert catalog["total_tasks"] == len(discovered_tasks)
    assert catalog["auto_generated"] is True


def test_every_task_has_a_description_and_an_object_schema() -> None:
    for entry in BaseProcessor(discovered_tasks).entries.values():
        assert entry.task.description, f"{entry.name} has no docstring"
        assert entry.parameters["type"] == "object"
        assert entry.parameters.get("additionalProperties") is False
