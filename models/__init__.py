"""ORM models. Every model module is imported here so Alembic sees the whole metadata."""

from models.base import Base
from models.task_run import TaskRun

__all__ = ["Base", "TaskRun"]
