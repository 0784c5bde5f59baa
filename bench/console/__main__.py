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
from typing import NamedTuple

import httpx

from bench.console import latency
from bench.results import replace_section
from config.embedded import EmbeddedPostgres, EmbeddedValkey, free_port

ROOT = Path(__file__).resolve().parents[2]


class Phase(NamedTuple):
    """API CPU and wall seconds of a follow phase, whole and in its steady window."""

    cpu: float
    wall: float
    window_cpu: float
    window_wall: float


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


class _Window:
    """The steady state: from the moment every client follows (its first event or poll) to the first end."""

    def __init__(self, pid: int, clients: int) -> None:
        self.pid, self.waiting = pid, clients
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None

    def following(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.start = (_cpu_s(self.pid), time.monotonic())

    def finished(self) -> None:
        if self.end is None and self.start is not None:
            self.end = (_cpu_s(self.pid), time.monotonic())


async def _stream(http: httpx.AsyncClient, task_id: str, window: _Window | None = None) -> int:
    events = 0
    async with http.stream("GET", f"/tasks/status/{task_id}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                events += 1
                if events == 2 and window is not None:  # STARTED came: this one follows live now
                    window.following()
    if window is not None:
        window.finished()
    return events


async def _poll(http: httpx.AsyncClient, task_id: str, window: _Window | None = None) -> int:
    polls = 0
    while True:
        polls += 1
        ready = (await http.get(f"/tasks/status/{task_id}")).json()["ready"]
        if polls == 2 and window is not None:
            window.following()
        if ready:
            if window is not None:
                window.finished()
            return polls
        await asyncio.sleep(1)


async def _follow(url: str, token: str, pid: int, path: str, runs: int, seconds: int, mode: str) -> Phase:
    limits = httpx.Limits(max_connections=runs + 10, max_keepalive_connections=runs + 10)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                 limits=limits) as http:
        # Warm up (lazy imports, first connections) on a finished no-op, outside the meter.
        warm = await _submit(http, "/tasks/execute/ping", {})
        await http.get(f"/tasks/status/{warm}", params={"wait": 30})
        await (_stream if mode == "stream" else _poll)(http, warm)
        # And the API's Redis and PostgreSQL pools grown to `runs` connections (one-time costs of the
        # process, else paid by whichever phase runs first and inherited by the next): `runs` status
        # reads (and log reads) at once, on HTTP connections of their own that close before the meter starts.
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                     limits=limits) as warmer:
            await asyncio.gather(*[warmer.get(f"/tasks/status/{warm}/logs") for _ in range(runs)])
        ids = [await _submit(http, path, {"seconds": seconds}) for _ in range(runs)]
        window = _Window(pid, runs)
        cpu0, t0 = _cpu_s(pid), time.monotonic()
        await asyncio.gather(*[(_stream if mode == "stream" else _poll)(http, i, window) for i in ids])
        cpu, wall = _cpu_s(pid) - cpu0, time.monotonic() - t0
        if window.start is None or window.end is None:
            return Phase(cpu, wall, float("nan"), float("nan"))
        return Phase(cpu, wall, window.end[0] - window.start[0], window.end[1] - window.start[1])


def _profiled(profile: Path | None, pid: int, name: str, seconds: int) -> subprocess.Popen[bytes] | None:
    """`--profile DIR`: py-spy samples the API process for the phase (raw folded stacks in DIR/<name>.txt)."""
    if profile is None:
        return None
    profile.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "250", "--duration", str(seconds),
                             "--format", "raw", "--nonblocking", "-o", str(profile / f"{name}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        try:
            os.killpg(process.pid, 15)
            process.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, 9)
            except ProcessLookupError:
                pass
    processes.clear()


def _follow_phase(url: str, token: str, api: subprocess.Popen[bytes], path: str, args: argparse.Namespace,
                  mode: str) -> Phase:
    spy = _profiled(args.profile, api.pid, mode, args.seconds + 3)
    try:
        return asyncio.run(_follow(url, token, api.pid, path, args.runs, args.seconds, mode))
    finally:
        if spy is not None:
            spy.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.console")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--phases", default="stream,poll,latency",
                        help="comma-separated subset of stream,poll,latency,trace (trace: where the latency goes; "
                             "RESULTS.md is written only with stream, poll and latency)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write py-spy samples of the API process during each follow phase into this folder")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
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
    workers: list[subprocess.Popen[bytes]] = []
    servers: list[subprocess.Popen[bytes]] = []
    nan = float("nan")
    stream = poll = Phase(nan, nan, nan, nan)
    latencies: dict[str, list[float]] = {}
    traced: dict[str, float] = {}
    try:
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        port = free_port()
        # Threads pool: the 100 followed runs are active at once.
        workers.append(_spawn([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "-l",
                               "WARNING", "--pool", "threads", "--concurrency", str(args.runs + 4), "-n", "bench@%h"],
                              env, scratch / "worker.log"))
        api = _spawn([sys.executable, "-m", "uvicorn", "main:app", "--port", str(port), "--log-level", "warning",
                      "--no-access-log"], env, scratch / "api.log")
        servers.append(api)
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
        if "stream" in phases:
            stream = _follow_phase(url, token, api, path, args, "stream")
        if "poll" in phases:
            poll = _follow_phase(url, token, api, path, args, "poll")
        if "latency" in phases:
            # The no-op latencies run on a worker as `toolbox up` starts it (prefork, 2 processes).
            _stop_all(workers)
            workers.append(_spawn([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "-l",
                                   "WARNING", "--concurrency", "2", "-n", "bench2@%h"], env, scratch / "worker2.log"))
            _wait_worker(url, token)
            time.sleep(1.0)  # the stack idle before one-at-a-time latencies
            latencies = latency.measure(port, token, args.rounds)
            if "trace" in phases:
                traced = latency.trace(port, token, args.rounds, valkey.url)
    except BaseException:
        for log in ("api.log", "worker.log", "worker2.log"):  # the scratch folder goes: show why it failed
            if (scratch / log).exists():
                print(f"--- {log} (last lines)\n" + "\n".join((scratch / log).read_text().splitlines()[-40:]))
        raise
    finally:
        _stop_all(workers + servers)
        valkey.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    body = _report(args, stream, poll, latencies, traced)
    print(body)
    if phases >= {"stream", "poll", "latency"}:
        replace_section(ROOT / "bench" / "RESULTS.md", "Console: following runs (bench.console)", body)
    return 0


def _wait_worker(url: str, token: str) -> None:
    """Until a no-op submitted through the API has run: the new worker consumes."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        task_id = http.post("/tasks/execute/ping", json={}).json()["task_id"]
        body = http.get(f"/tasks/status/{task_id}", params={"wait": 60}).json()
        if body.get("status") != "SUCCESS":
            raise RuntimeError(f"the latency worker did not run a ping within 60 s: {body}")


def _report(args: argparse.Namespace, stream: Phase, poll: Phase, latencies: dict[str, list[float]],
            traced: dict[str, float]) -> str:
    events = args.runs * (2 * args.seconds + 2)  # STARTED, a log line and a progress per second, the final state
    polls = args.runs * args.seconds
    load = os.getloadavg()
    # Steady state: CPU per client-second while every client follows (all streams open, all pollers polling).
    per_stream_s = stream.window_cpu / (args.runs * stream.window_wall) * 1e6
    per_poll_s = poll.window_cpu / (args.runs * poll.window_wall) * 1e6
    lines = [
        f"`uv run python -m bench.console --runs {args.runs} --seconds {args.seconds} --rounds {args.rounds}` on "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}).",
        "",
        f"{args.runs} runs of {args.seconds} s followed by {args.runs} clients (API process CPU, one uvicorn worker; "
        "threads-pool worker so every run is active at once). Whole phase: from the first request to the last "
        "answer, the 100 opens (or first polls) included. Steady state: the window from the moment every client "
        "follows (its second event, its second poll) to the first run's end, per client-second:",
        "",
        "| how the clients follow | API CPU s | wall s | CPU µs per event / poll | whole phase vs polling "
        "| steady window s | steady CPU µs per client-second | steady vs polling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| event streams (SSE), {events} events | {stream.cpu:.2f} | {stream.wall:.1f} | "
        f"{stream.cpu / events * 1e6:.0f} | {stream.cpu / poll.cpu:.2f}× | {stream.window_wall:.1f} | "
        f"{per_stream_s:.0f} | {per_stream_s / per_poll_s:.2f}× |",
        f"| polling once a second, ~{polls} polls | {poll.cpu:.2f} | {poll.wall:.1f} | "
        f"{poll.cpu / polls * 1e6:.0f} | 1.00× | {poll.window_wall:.1f} | {per_poll_s:.0f} | 1.00× |",
    ]
    if latencies:
        base = statistics.median(latencies[latency.PATHS[0]]) * 1000
        lines += [
            "",
            f"No-op (`maintenance.ping`) end to end, one run at a time, {args.rounds} interleaved rounds, http.client "
            "on one keep-alive connection, prefork worker (2 processes) as `toolbox up` runs it:",
            "",
            "| path | p50 ms | p90 ms | p50 − delay().get() p50 |",
            "|---|---:|---:|---:|",
        ]
        for name, values in latencies.items():
            ms = sorted(v * 1000 for v in values)
            p50, p90 = statistics.median(ms), ms[max(0, int(len(ms) * 0.9) - 1)]
            lines.append(f"| {name} | {p50:.1f} | {p90:.1f} | {p50 - base:+.1f} ms |")
    if traced:
        lines += ["", "Where the time goes (`--phases latency,trace`; medians, ms; stream ids and `date_done` "
                  "give the Redis and worker side):", "", "| step | ms |", "|---|---:|"]
        lines += [f"| {name} | {value:.1f} |" for name, value in traced.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
