"""Twenty clients launch one single-run task at the same moment: exactly one run happens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx

from support.fault_tasks import FaultStack
from support.polling import wait_for_status

CLIENTS = 20


async def _launch(url: str, token: str, version: str, start: asyncio.Event) -> httpx.Response:
    # One client (and connection) per caller, all released together.
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        await start.wait()
        return await http.post("/tasks/execute/exclusive", json={"version": version, "hold_s": 3})


async def test_twenty_concurrent_launches_make_exactly_one_run(
    fault_http: httpx.AsyncClient, fault_stack: FaultStack, mint: Callable[..., str], db: asyncpg.Connection
) -> None:
    start = asyncio.Event()
    launches = [asyncio.create_task(_launch(fault_stack.url, mint("operator", f"client-{n}"), "race", start))
                for n in range(CLIENTS)]
    await asyncio.sleep(0.2)  # every client is connected and waiting
    start.set()
    responses = await asyncio.gather(*launches)

    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 409]
    assert len(accepted) == 1 and len(refused) == CLIENTS - 1, [(r.status_code, r.text) for r in responses]
    winner = accepted[0].json()["task_id"]
    for response in refused:
        body = response.json()
        assert body["success"] is False and body["code"] == "single_run_active"
        assert winner in body["message"]

    done = await wait_for_status(fault_http, winner, timeout=30)
    assert done["status"] == "SUCCESS", done
    # One delivery, one registry row: the refused launches left nothing behind.
    assert await db.fetchval("select count(*) from fault_deliveries where version = 'race'") == 1
    task_name = done["task_name"]
    assert await db.fetch("select task_id from task_runs where task_name = $1", task_name) == [(winner,)]

    # The lock went with the run: the next launch runs.
    again = await fault_http.post("/tasks/execute/exclusive", json={"version": "after", "hold_s": 0})
    assert again.status_code == 202, again.text
    assert (await wait_for_status(fault_http, again.json()["task_id"], timeout=30))["status"] == "SUCCESS"
    await db.execute("delete from task_runs where task_name = $1", task_name)
