"""`uv run python -m bench.api`: Toolbox vs a naive FastAPI + delay() service vs Flower 2.x.

All three run in the same run, on the same embedded PostgreSQL + Valkey and the same Celery
worker, one uvicorn/tornado process each, measured interleaved (round-robin per phase, the
order rotated every round) at 16 concurrent keep-alive connections:

- execute: requests/s and p99 of submitting the no-op task `maintenance.ping`;
- status: requests/s and p99 of reading the status of a finished run;
- end-to-end: submit, then poll the status every 5 ms until SUCCESS (p50, p99).

Figures are printed with ratios against the naive service and written to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.api.loadgen import Connection, Sample, hammer
from bench.api.services import Service, build_services
from bench.results import replace_section
from config.embedded import EmbeddedPostgres, EmbeddedValkey

ROOT = Path(__file__).resolve().parents[2]


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    handle.close()
    return process


def _wait_drained(client: redis.Redis, queue: str = "celery", timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.llen(queue) and time.monotonic() < deadline:
        time.sleep(0.2)


async def _finished_id(service: Service) -> str:
    conn = Connection("127.0.0.1", service.port)
    try:
        status, body = await conn.request(service.execute_request())
        assert status in (200, 201, 202), (service.name, status, body[:300])
        task_id = service.task_id_of(body)
        for _ in range(2000):
            status, body = await conn.request(service.status_request(task_id))
            if service.is_success(body):
                return task_id
            await asyncio.sleep(0.01)
        raise RuntimeError(f"{service.name}: run {task_id} never finished")
    finally:
        await conn.close()


async def _end_to_end(service: Service, connections: int, seconds: float) -> Sample:
    sample = Sample()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        conn = Connection("127.0.0.1", service.port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status, body = await conn.request(service.execute_request())
                sample.statuses[status] = sample.statuses.get(status, 0) + 1
                task_id = service.task_id_of(body)
                while True:
                    status, body = await conn.request(service.status_request(task_id))
                    if service.is_success(body):
                        break
                    await asyncio.sleep(0.005)
                sample.latencies.append(time.perf_counter() - started)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    sample.elapsed = time.perf_counter() - started
    return sample


async def measure(services: list[Service], rounds: int, seconds: float, connections: int,
                  broker: redis.Redis) -> dict[str, dict[str, list[Sample]]]:
    results: dict[str, dict[str, list[Sample]]] = {s.name: {"execute": [], "status": [], "e2e": []} for s in services}
    finished = {s.name: await _finished_id(s) for s in services}
    for round_no in range(rounds):
        order = services[round_no % len(services):] + services[:round_no % len(services)]
        for service in order:
            sample = await hammer("127.0.0.1", service.port, service.execute_request, connections, seconds)
            results[service.name]["execute"].append(sample)
            _wait_drained(broker)
        for service in order:
            task_id = finished[service.name]
            sample = await hammer("127.0.0.1", service.port, functools.partial(service.status_request, task_id),
                                  connections, seconds)
            results[service.name]["status"].append(sample)
        for service in order:
            results[service.name]["e2e"].append(await _end_to_end(service, connections, seconds))
            _wait_drained(broker)
        print(f"round {round_no + 1}/{rounds} done", flush=True)
    return results


def _pooled(samples: list[Sample]) -> Sample:
    pooled = Sample()
    for sample in samples:
        pooled.latencies += sample.latencies
        for code, count in sample.statuses.items():
            pooled.statuses[code] = pooled.statuses.get(code, 0) + count
    return pooled


def report(results: dict[str, dict[str, list[Sample]]], args: argparse.Namespace) -> str:

    rows = ["| service | execute req/s | execute p99 ms | status req/s | status p99 ms | e2e p50 ms | e2e p99 ms | non-2xx |",
            "|---|---|---|---|---|---|---|---|"]
    ratio_rows = ["| service | execute req/s × naive | execute p99 × naive | status req/s × naive | status p99 × naive | e2e p50 × naive |",
                  "|---|---|---|---|---|---|"]

    def figures(name: str) -> dict[str, float]:
        phases = results[name]
        execute, status, e2e = (_pooled(phases[p]) for p in ("execute", "status", "e2e"))
        bad = sum(c for s in (execute, status, e2e) for code, c in s.statuses.items() if not 200 <= code < 300)
        return {
            "exec_rps": statistics.median(s.rps for s in phases["execute"]),
            "exec_p99": execute.percentile(0.99) * 1000,
            "status_rps": statistics.median(s.rps for s in phases["status"]),
            "status_p99": status.percentile(0.99) * 1000,
            "e2e_p50": e2e.percentile(0.50) * 1000,
            "e2e_p99": e2e.percentile(0.99) * 1000,
            "bad": bad,
        }

    naive = figures("naive")
    for name in results:
        f = figures(name)
        rows.append(f"| {name} | {f['exec_rps']:.0f} | {f['exec_p99']:.1f} | {f['status_rps']:.0f} | "
                    f"{f['status_p99']:.1f} | {f['e2e_p50']:.1f} | {f['e2e_p99']:.1f} | {f['bad']} |")
        ratio_rows.append(f"| {name} | {f['exec_rps'] / naive['exec_rps']:.2f} | {f['exec_p99'] / naive['exec_p99']:.2f} | "
                          f"{f['status_rps'] / naive['status_rps']:.2f} | {f['status_p99'] / naive['status_p99']:.2f} | "
                          f"{f['e2e_p50'] / naive['e2e_p50']:.2f} |")
    header = (f"`uv run python -m bench.api --rounds {args.rounds} --seconds {args.seconds} --connections "
              f"{args.connections}` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
              "Toolbox runs with auth, validation and the run registry on; one server process per service; "
              "one shared Celery worker (prefork, 2 processes).")
    return "\n".join([header, "", *rows, "", "Ratios against the naive service (higher req/s and lower p99/p50 are better):",
                      "", *ratio_rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="toolbox-bench-api-"))
    postgres = EmbeddedPostgres(work / "pg").start()
    valkey = EmbeddedValkey(work / "valkey").start()
    env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": valkey.url, "ENVIRONMENT": "production",
           "AUTH_JWT_SECRET": os.urandom(32).hex(), "VAR_DIR": str(work / "var"), "FLOWER_UNAUTHENTICATED_API": "true"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([sys.executable, "-m", "config.cli", "migrate"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        services, commands = build_services(env)
        processes.append(_spawn([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker",
                                 "--concurrency", "2", "--loglevel", "WARNING", "-E"], env, work / "worker.log"))
        for service, command in zip(services, commands):
            processes.append(_spawn(command, env, work / f"{service.name}.log"))
        for service in services:
            service.wait_ready()
        results = asyncio.run(measure(services, args.rounds, args.seconds, args.connections,
                                      redis.Redis.from_url(valkey.url)))
        table = report(results, args)
        print(table)
        if not args.no_write:
            replace_section(ROOT / "bench" / "RESULTS.md", "API: Toolbox vs naive FastAPI + delay() vs Flower", table)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        valkey.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
