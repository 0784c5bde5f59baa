"""Listing Beat schedules and pausing/resuming them (the pause flag lives in Redis, read by Beat)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redbeat.decoder import RedBeatJSONDecoder
from redis.exceptions import RedisError

from background.processors.base import BaseProcessor
from background.processors.schedule_errors import parse as parse_send_error
from background.processors.schedule_resolution import ResolvedSchedule, resolve_all
from background.schemas.schedules import BeatLeader, ScheduleRun, ScheduleView
from config.redis_keys import (
    BEAT_KEY_PREFIX,
    BEAT_LOCK_KEY,
    SCHEDULE_SEND_ERRORS_KEY,
    SCHEDULES_LEADER_KEY,
    SCHEDULES_PAUSED_KEY,
)
from config.repository_factory import RepositoryFactory
from config.schedule_overrides import overrides_for
from config.settings import Settings
from repositories.task_runs import TaskRunRepository
from schemas.errors import RedisUnavailableError, ScheduleNotFoundError, TaskNotFoundError
from services.audit import AuditAction, AuditService
from services.auth import Principal


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class ScheduleService:
    """Every scheduled task with its cron, state, last run and next run; pause and resume."""

    def __init__(self, schedules: dict[str, ResolvedSchedule], processor: BaseProcessor, client: aioredis.Redis,
                 repositories: RepositoryFactory, *, timezone: str, beat_enabled: bool) -> None:
        self._schedules = schedules
        self._processor = processor
        self._client = client
        self._repositories = repositories
        self._timezone = timezone
        self._beat_enabled = beat_enabled
        self._audit = AuditService(repositories)

    @classmethod
    def build(cls, settings: Settings, processor: BaseProcessor, client: aioredis.Redis,
              repositories: RepositoryFactory) -> ScheduleService:
        """The service over the schedules in force for this environment."""
        tasks = {entry.name: entry.task for entry in processor.entries.values()}
        schedules = resolve_all(tasks, overrides_for(settings.environment, settings.schedules.overrides))
        return cls(schedules, processor, client, repositories, timezone=settings.schedules.timezone,
                   beat_enabled=settings.schedules.enabled)

    async def list_all(self) -> list[ScheduleView]:
        """All schedules, by task name."""
        return await self._views(list(self._schedules))

    async def leader(self) -> BeatLeader | None:
        """Which Beat holds RedBeat's leader lock and since when; None when no Beat holds it.

        The holder is what that Beat recorded on acquiring the lock; it is trusted only while the
        lock still carries the token recorded with it (a Beat that died leaves a stale record).
        """
        pipe = self._client.pipeline(transaction=False)
        pipe.get(BEAT_LOCK_KEY)
        pipe.pttl(BEAT_LOCK_KEY)
        pipe.get(SCHEDULES_LEADER_KEY)
        token, ttl_ms, raw = await self._redis(pipe.execute())
        if token is None:
            return None
        token = token.decode() if isinstance(token, bytes) else str(token)
        record = json.loads(raw) if raw else {}
        known = record.get("token") == token
        return BeatLeader(holder=record.get("holder") if known else None, since=record.get("since") if known else None,
                          lock_key=BEAT_LOCK_KEY,
                          lock_expires_in_s=round(ttl_ms / 1000, 3) if ttl_ms and ttl_ms > 0 else None)

    async def get(self, name: str) -> ScheduleView:
        """One schedule by task name, short or kebab name; ScheduleNotFoundError if none."""
        return (await self._views([self._resolve(name)]))[0]

    async def pause(self, name: str, principal: Principal, client: str | None = None) -> ScheduleView:
        """Beat skips the schedule's ticks until it is resumed (idempotent)."""
        task_name = self._resolve(name)
        flag = json.dumps({"by": principal.subject, "at": datetime.now(UTC).isoformat()})
        changed = await self._redis(self._client.hsetnx(SCHEDULES_PAUSED_KEY, task_name, flag))
        await self._audit.record(AuditAction.PAUSE, principal.subject, task_name=task_name, client=client,
                                 detail={"changed": bool(changed)})
        return (await self._views([task_name]))[0]

    async def resume(self, name: str, principal: Principal, client: str | None = None) -> ScheduleView:
        """Beat sends the schedule again from its next tick on (idempotent; missed ticks are not caught up)."""
        task_name = self._resolve(name)
        changed = await self._redis(self._client.hdel(SCHEDULES_PAUSED_KEY, task_name))
        await self._audit.record(AuditAction.RESUME, principal.subject, task_name=task_name, client=client,
                                 detail={"changed": bool(changed)})
        return (await self._views([task_name]))[0]

    def _resolve(self, name: str) -> str:
        if name in self._schedules:
            return name
        try:
            task_name = self._processor.resolve(name).name
        except TaskNotFoundError:
            task_name = None
        if task_name is None or task_name not in self._schedules:
            raise ScheduleNotFoundError(
                f"No schedule named {name[:200]!r}.",
                description="GET /tasks/schedules lists the scheduled tasks; a schedule is named after its task.")
        return task_name

    async def _views(self, names: list[str]) -> list[ScheduleView]:
        if not names:
            await self._redis(self._client.ping())  # an empty list still says when Redis is down
            return []
        pipe = self._client.pipeline(transaction=False)
        pipe.hmget(SCHEDULES_PAUSED_KEY, names)
        pipe.hmget(SCHEDULE_SEND_ERRORS_KEY, names)
        for name in names:
            pipe.hget(BEAT_KEY_PREFIX + name, "meta")
        paused, send_errors, *metas = await self._redis(pipe.execute())
        async with self._repositories.autocommit() as uow:
            last_runs = await uow.repo(TaskRunRepository).latest_beat_runs(names)
        now = datetime.now(UTC)
        return [self._view(self._schedules[name], paused[i], metas[i], last_runs.get(name), send_errors[i], now)
                for i, name in enumerate(names)]

    def _view(self, resolved: ResolvedSchedule, paused_raw: Any, meta_raw: Any,
              last_run: dict[str, Any] | None, send_error_raw: Any, now: datetime) -> ScheduleView:
        task = resolved.task
        pause = json.loads(paused_raw) if paused_raw else None
        meta = json.loads(meta_raw, cls=RedBeatJSONDecoder) if meta_raw else {}
        enabled = self._beat_enabled and resolved.configured_on and pause is None
        next_runs = resolved.next_runs(meta.get("last_run_at"), now, self._timezone) if enabled else []
        next_run = next_runs[0] if next_runs else None
        send_error = parse_send_error(send_error_raw)
        return ScheduleView(
            name=task.name,
            cron=resolved.expression,
            declared_cron=resolved.declared,
            source=resolved.source,
            timezone=self._timezone,
            kwargs=resolved.kwargs,
            queue=getattr(task, "declared_queue", None) or task.app.conf.task_default_queue,
            single_run=bool(task.single_run),
            enabled=enabled,
            paused=pause is not None,
            paused_by=pause["by"] if pause else None,
            paused_at=pause["at"] if pause else None,
            last_run_at=_iso(last_run["submitted_at"]) if last_run else None,
            next_run_at=_iso(next_run),
            next_runs=[at.isoformat() for at in next_runs],
            catch_up=resolved.catch_up,
            last_run=ScheduleRun(
                task_id=last_run["task_id"], status=last_run["status"],
                submitted_at=_iso(last_run["submitted_at"]), started_at=_iso(last_run["started_at"]),
                finished_at=_iso(last_run["finished_at"]),
            ) if last_run else None,
            last_send_error=send_error.as_view() if send_error else None,
        )

    @staticmethod
    async def _redis(awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError("Redis is unreachable; schedules cannot be read or changed now.",
                                        description=f"{type(exc).__name__}: {exc}") from exc
