"""One caller's launch cannot fail the launches sharing its coalesced registry INSERT.

Concurrent launches share one multi-row INSERT (repositories/run_registry.py). A bad subject is
refused when its token is checked; a row the database refuses anyway fails only its own request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import jwt

import pytest
from config.settings import get_settings
from support.error_shape import assert_error
from support.registry import delete_runs

GOOD, ODD = 24, 4


def _signed(subject: str, role: str = "operator") -> str:
    """A correctly signed token, whatever its subject (toolbox token would refuse to mint these)."""
    auth = get_settings().auth
    now = int(time.time())
    claims = {"sub": subject, "role": role, "iat": now, "exp": now + 600, "iss": auth.issuer}
    return jwt.encode(claims, auth.jwt_secret, algorithm=auth.jwt_algorithm)


@pytest.fixture
async def launched(db: asyncpg.Connection) -> AsyncIterator[list[str]]:
    ids: list[str] = []
    yield ids
    # Removed once the worker is done with them, or its last write would bring a row back.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and await db.fetchval(
            "select count(*) from task_runs where task_id = any($1::text[]) and status <> 'SUCCESS'", ids):
        await asyncio.sleep(0.1)
    await delete_runs(db, ids)


async def _launch(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/tasks/execute/ping", json={"echo": "shared-flush"},
                           headers={"Authorization": f"Bearer {token}"})


async def _accepted(responses: list[httpx.Response], launched: list[str]) -> None:
    for response in responses:
        assert response.status_code == 202, response.text
        launched.append(response.json()["task_id"])


@pytest.mark.parametrize("subject", ["a" * 300, "a" * 201, "", "eve\x00admin", "eve\nlevel=admin", "tab\there"],
                         ids=["300_chars", "201_chars", "empty", "nul", "line_break", "tab"])
async def test_a_signed_token_with_a_bad_subject_is_401(anonymous: httpx.AsyncClient, subject: str) -> None:
    body = assert_error(await _launch(anonymous, _signed(subject)), 401, "invalid_token")
    assert "subject" in body["message"]


async def test_a_200_character_subject_is_accepted(anonymous: httpx.AsyncClient, worker: Any,
                                                   db: asyncpg.Connection, launched: list[str]) -> None:
    subject = "é" * 200
    await _accepted([await _launch(anonymous, _signed(subject))], launched)
    assert await db.fetchval("select submitted_by from task_runs where task_id = $1", launched[0]) == subject


async def test_bad_subjects_among_concurrent_launches_fail_alone(api_url: str, worker: Any, db: asyncpg.Connection,
                                                                 launched: list[str]) -> None:
    good, odd = _signed("alice"), _signed("x" * 300)
    async with httpx.AsyncClient(base_url=api_url, timeout=30,
                                 limits=httpx.Limits(max_connections=GOOD + ODD)) as http:
        responses = await asyncio.gather(*[_launch(http, good) for _ in range(GOOD)],
                                         *[_launch(http, odd) for _ in range(ODD)])
    await _accepted(list(responses[:GOOD]), launched)
    for response in responses[GOOD:]:
        assert 400 <= response.status_code < 500, response.text
        assert_error(response, 401, "invalid_token")
    assert await db.fetchval("select count(*) from task_runs where task_id = any($1::text[])", launched) == GOOD


# A row PostgreSQL refuses whatever the API checked: a trigger fails rows of one subject, and holds
# the INSERT of another one long enough for every launch that follows to share one flush.
TRIGGER = """
create function pytest_refuse_row() returns trigger language plpgsql as $$
begin
  if new.submitted_by like 'poison-%' then raise exception 'refused by a test trigger'; end if;
  if new.submitted_by like 'slow-%' then perform pg_sleep(2); end if;
  return new;
end $$;
create trigger pytest_refuse_row before insert on task_runs for each row execute function pytest_refuse_row();
"""
DROP = "drop trigger if exists pytest_refuse_row on task_runs; drop function if exists pytest_refuse_row();"


@pytest.fixture
async def refusing_trigger(db: asyncpg.Connection) -> AsyncIterator[None]:
    await db.execute(TRIGGER)
    try:
        yield
    finally:
        await db.execute(DROP)


async def _insert_in_flight(db: asyncpg.Connection, subject: str) -> None:
    """Until the API's INSERT for `subject`'s run is executing (held by the trigger)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await db.fetchval("select count(*) from pg_stat_activity where state = 'active' and "
                             "wait_event = 'PgSleep' and query like '%insert into task_runs%'"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the INSERT for {subject} never started")


async def test_a_row_the_database_refuses_fails_only_its_own_launch(
    api_url: str, worker: Any, db: asyncpg.Connection, refusing_trigger: None, launched: list[str],
    mint: Callable[..., str],
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=api_url, timeout=30,
                                 limits=httpx.Limits(max_connections=GOOD + ODD + 1)) as http:
        slow = asyncio.create_task(_launch(http, mint(subject=f"slow-{tag}")))
        await _insert_in_flight(db, f"slow-{tag}")
        # Every launch sent now waits for the slow INSERT, then all go out in one multi-row INSERT.
        responses = await asyncio.gather(*[_launch(http, mint(subject=f"good-{tag}")) for _ in range(GOOD)],
                                         *[_launch(http, mint(subject=f"poison-{tag}")) for _ in range(ODD)])
        await _accepted([await slow], launched)
    await _accepted(list(responses[:GOOD]), launched)
    for response in responses[GOOD:]:
        assert_error(response, 500, "internal_error")
    rows = await db.fetch("select submitted_by, count(*) from task_runs where submitted_by like $1 "
                          "group by submitted_by", f"%-{tag}")
    assert {row["submitted_by"]: row["count"] for row in rows} == {f"slow-{tag}": 1, f"good-{tag}": GOOD}
