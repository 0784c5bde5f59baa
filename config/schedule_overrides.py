"""Per-environment overrides of the schedules tasks declare (`@celery_app.task(schedule=...)`).

Map a task name to a new cron expression (or alias, or `@every 30s`), or to None to switch the
schedule off in that environment. `SCHEDULE_OVERRIDES` (JSON, same shape as one environment's
map) is applied on top, for operators who cannot edit this file. An override may also schedule a
task that declares no schedule. A name that is not a discovered task stops start-up: an override
that silently matches nothing is a typo nobody would notice.
"""

from __future__ import annotations

OVERRIDES: dict[str, dict[str, str | None]] = {
    # e.g. "local": {"toolbox.etl": None, "toolbox.kpi": "@every 10m"},
    "local": {},
    "test": {},
    "staging": {},
    "production": {},
}


def overrides_for(environment: str, extra: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """The overrides in force: this file's map for the environment, then `extra` (from settings)."""
    merged = dict(OVERRIDES.get(environment, {}))
    merged.update(extra or {})
    return merged
