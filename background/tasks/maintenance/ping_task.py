"""maintenance.ping: a no-op task, to check the path API -> broker -> worker -> status."""

from typing import Annotated

from pydantic import Field

from config.celery_config import celery_app


@celery_app.task(name="maintenance.ping")
def ping(echo: Annotated[str, Field(max_length=200, description="Text the run returns as its result.")] = "pong") -> str:
    """Return `echo` at once (checks that workers are consuming)."""
    return echo
