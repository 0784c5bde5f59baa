"""`uv run python -m bench.console`: following runs live (SSE, ?wait) against polling and raw Celery.

One embedded PostgreSQL + Valkey, one uvicorn process, one Celery worker (threads pool, so 100
runs are active at once), all started here and stopped at the end. Two measurements:

- CPU of the API process while 100 clients follow 100 runs (each ~N s long, a progress update and
  a log line per second): over open event streams, then polling the status once a second;
- end-to-end latency of a no-op (`maintenance.ping`): submit then `?wait`, submit then the event
  stream, and raw Celery `delay().get()`, interleaved round by round.

Figures are printed and written to bench/RESULTS.md. The machine may be shared: read ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.results import replace_section
from config.embedded import EmbeddedPostgres, EmbeddedValkey, free_port

ROOT = Path(__file__).resolve().parents[2]
TASK = '''
"""A run to follow: a progress update and a log line per second."""
import logging
import time

from background.processors.progress import Progress
from config.celery_config import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="{domain}.follow_me")
def follow_me(progress: Progress, seconds: int = 20) -> int:
    """Tick once a second."""
    for tick in range(1, seconds + 1):
        time.sleep(1)
        log.info("tick %s", tick)
        progress.update(tick, seconds, "ticking")
    return seconds
'''


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    handle.close()
    return process


async def _submit(http: httpx.AsyncClient, path: str, body: dict[str, object]) -> str:
    response = await http.post(path, json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


async def _stream(http: httpx.AsyncClient, task_id: str) -> int:
    events = 0
    async with http.stream("GET", f"/tasks/status/{task_id}/events") as response:
        async for line in response.aiter_lines():
            events += line.startswith("event:")
    return events


async def _poll(http: httpx.AsyncClient, task_id: str) -> int:
    polls = 0
    while True:
        polls += 1
        if (await http.get(f"/tasks/status/{task_id}")).json()["ready"]:
            return polls
        await asyncio.sleep(1)


async def _follow(url: str, token: str, pid: int, path: str, runs: int, seconds: int, mode: str) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=runs + 10, max_keepalive_connections=runs + 10)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                 limits=limits) as http:
        ids = [await _submit(http, path, {"seconds": seconds}) for _ in range(runs)]
        cpu0, t0 = _cpu_s(pid), time.monotonic()
        await asyncio.gather(*[(_stream if mode == "stream" else _poll)(http, i) for i in ids])
        return _cpu_s(pid) - cpu0, time.monotonic() - t0


async def _latencies(url: str, token: str, rounds: int) -> dict[str, list[float]]:
    from background.processors.discovery import discover_tasks
    from config.celery_config import celery_app

    ping = discover_tasks(celery_app)["maintenance.ping"]
    out: dict[str, list[float]] = {"delay().get()": [], "submit + ?wait": [], "submit + stream": []}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for _ in range(rounds):
            t = time.perf_counter()
            await asyncio.to_thread(lambda: ping.delay().get(timeout=30))
            out["delay().get()"].append(time.perf_counter() - t)
            t = time.perf_counter()
            task_id = await _submit(http, "/tasks/execute/ping", {})
            assert (await http.get(f"/tasks/status/{task_id}", params={"wait": 30})).json()["status"] == "SUCCESS"
            out["submit + ?wait"].append(time.perf_counter() - t)
            t = time.perf_counter()
            task_id = await _submit(http, "/tasks/execute/ping", {})
            await _stream(http, task_id)
            out["submit + stream"].append(time.perf_counter() - t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.console")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-console-"))
    domain = f"zz_bench_{uuid.uuid4().hex[:6]}"
    folder = ROOT / "background" / "tasks" / domain
    folder.mkdir()
    (folder / "follow_task.py").write_text(TASK.replace("{domain}", domain))
    postgres = EmbeddedPostgres(scratch / "pg", port=free_port(), fast_unsafe=True).start()
    valkey = EmbeddedValkey(scratch / "valkey", port=free_port()).start()
    env = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": postgres.url, "REDIS_URL": valkey.url,
           "VAR_DIR": str(scratch / "var"), "AUTH_JWT_SECRET": "bench-" + uuid.uuid4().hex}
    os.environ.update({k: env[k] for k in ("ENVIRONMENT", "DATABASE_URL", "REDIS_URL", "VAR_DIR", "AUTH_JWT_SECRET")})
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        port = free_port()
        processes.append(_spawn([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "-l", "WARNING",
                                 "--pool", "threads", "--concurrency", str(args.runs + 4), "-n", "bench@%h"],
                                env, scratch / "worker.log"))
        api = _spawn([sys.executable, "-m", "uvicorn", "main:app", "--port", str(port), "--log-level", "warning",
                      "--no-access-log"], env, scratch / "api.log")
        processes.append(api)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        from config.settings import get_settings
        from services.auth import TokenService

        token = TokenService(get_settings().auth).mint("bench", "operator", 3600)
        path = f"/tasks/execute/{domain}.follow_me"
        stream_cpu, stream_wall = asyncio.run(_follow(url, token, api.pid, path, args.runs, args.seconds, "stream"))
        poll_cpu, poll_wall = asyncio.run(_follow(url, token, api.pid, path, args.runs, args.seconds, "poll"))
        latencies = asyncio.run(_latencies(url, token, args.rounds))
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, 15)
                process.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, 9)
        valkey.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    base = statistics.median(latencies["delay().get()"]) * 1000
    lines = [
        f"{args.runs} runs of {args.seconds} s followed by {args.runs} clients (API process CPU, one uvicorn worker):",
        "",
        "| how the clients follow | API CPU s | wall s | CPU vs polling |",
        "|---|---|---|---|",
        f"| event streams (SSE) | {stream_cpu:.2f} | {stream_wall:.1f} | {stream_cpu / poll_cpu:.2f}x |",
        f"| polling once a second | {poll_cpu:.2f} | {poll_wall:.1f} | 1.00x |",
        "",
        f"No-op end to end, {args.rounds} rounds interleaved (median, p90; difference to raw Celery's median):",
        "",
        "| path | p50 ms | p90 ms | p50 - delay().get() |",
        "|---|---|---|---|",
    ]
    for name, values in latencies.items():
        ms = sorted(v * 1000 for v in values)
        p50, p90 = statistics.median(ms), ms[int(len(ms) * 0.9) - 1]
        lines.append(f"| {name} | {p50:.1f} | {p90:.1f} | {p50 - base:+.1f} ms |")
    body = "\n".join(lines)
    print(body)
    replace_section(ROOT / "bench" / "RESULTS.md", "Console: following runs (bench.console)",
                    body + "\n\nCommand: `uv run python -m bench.console`. Shared 2-core machine: other work ran at "
                    "the same time, so read the ratios, not the absolute figures.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
