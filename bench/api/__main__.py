"""`uv run python -m bench.api`: Toolbox vs a naive FastAPI + delay() service (twice) vs Flower 2.x.

Measured the way a skeptic would:

- wrk (C) drives the HTTP load, 16 keep-alive connections, one thread;
- execute: `POST` of the no-op `maintenance.ping` with the worker paused (`cancel_consumer`), the
  queue purged after each service: only the submit path is measured;
- status: `GET` of the status of a finished run;
- end-to-end: one run at a time on an otherwise idle system, a Python client that submits and
  polls every 5 ms; with `?wait=` when Toolbox's status route honours it; raw `delay().get()`;
- CPU µs per request of every server process tree (uvicorn's workers included), and of Redis and
  PostgreSQL, from /proc (utime + stime) before and after each phase;
- at least 5 rounds, the order of the services rotated each round; ratios are medians of the
  same-round ratios; a second identical naive service shows the noise of the machine.

Every service runs one process (`--workers 2,4` repeats the run with more uvicorn processes for
Toolbox). Toolbox runs with auth, validation and the run registry on and its own worker as
`toolbox up` starts it. `--catalog-tasks 500` serves Toolbox from a copy of the project with 500
generated task files (bench/discovery) to measure /tasks/available at that size.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.api import e2e
from bench.api.cpu import CpuMeter
from bench.api.report import Results, figures_table, ratio_table, rounds_table, targets_table
from bench.api.services import ROOT, Service, flower, naive, toolbox
from bench.api.wrk import require_wrk, run_wrk
from bench.results import replace_section
from config.embedded import EmbeddedPostgres, EmbeddedValkey

SECTION = "API: Toolbox vs naive FastAPI + delay() vs Flower"


class Worker:
    """The Celery worker, as `toolbox up` starts it; paused and resumed through remote control."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name = f"bench@{socket.gethostname()}"
        handle = open(log, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "-n", "bench@%h", "-E"],
            cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        handle.close()
        from config.celery_config import celery_app, declared_queues

        self.app = celery_app
        self.queues = list(declared_queues)

    def _control(self, command: str) -> None:
        for queue in self.queues:
            method = getattr(self.app.control, command)
            replies = method(queue, destination=[self.name], reply=True, timeout=5)
            if not replies:
                raise RuntimeError(f"worker {self.name} did not answer {command}({queue})")

    def pause(self) -> None:
        self._control("cancel_consumer")

    def resume(self) -> None:
        self._control("add_consumer")

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the worker exited during start-up")
            if self.app.control.ping(destination=[self.name], timeout=1):
                return
        raise RuntimeError("the worker did not answer a ping")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _finished_id(service: Service) -> str:
    client = e2e.Client(service)
    try:
        task_id = client.submit()
        for _ in range(3000):
            status, body = client.call("GET", service.status_prefix + task_id)
            if status == 200 and service.is_success(body):
                return task_id
            time.sleep(0.01)
        raise RuntimeError(f"{service.name}: run {task_id} never finished")
    finally:
        client.close()


def _load(service: Service, meter: CpuMeter, path: str, method: str, args: argparse.Namespace,
          prefix: str) -> dict[str, float]:
    """One wrk phase against one service, with the CPU every tree spent per request."""
    time.sleep(0.3)  # let the previous phase's stragglers finish before the meter starts
    meter.start()
    result = run_wrk(service.base + path, method=method, body="{}" if method == "POST" else None,
                     headers={**service.headers, "Content-Type": "application/json"},
                     connections=args.connections, seconds=args.seconds)
    used = meter.stop()
    per = 1e6 / max(result.requests, 1)
    return {f"{prefix}_rps": result.rps, f"{prefix}_p99": result.p99_ms, f"{prefix}_cpu": used[service.name] * per,
            f"{prefix}_redis": used["redis"] * per, f"{prefix}_pg": used["postgres"] * per,
            "errors": float(result.errors)}


def measure(services: list[Service], worker: Worker, broker: redis.Redis, meter: CpuMeter,
            args: argparse.Namespace) -> Results:
    results = Results([s.name for s in services])
    finished = {s.name: _finished_id(s) for s in services}
    tb = next(s for s in services if s.name == "toolbox")
    has_wait = e2e.wait_supported(tb, worker.pause, worker.resume)
    print(f"toolbox ?wait=: {'honoured' if has_wait else 'not supported (skipped)'}", flush=True)
    for round_no in range(args.rounds):
        shift = round_no % len(services)
        order = services[shift:] + services[:shift]
        results.orders.append([s.name for s in order])
        results.loads.append(os.getloadavg()[0])
        worker.pause()
        for service in order:
            figures = _load(service, meter, service.execute_path, "POST", args, "exec")
            errors = figures.pop("errors")
            results.add(service.name, round_no, figures | {"errors": errors})
            broker.delete(*worker.queues)  # purge: the next service starts from an empty queue
        worker.resume()
        for service in order:
            figures = _load(service, meter, service.status_prefix + finished[service.name], "GET", args, "status")
            errors = results.rounds[service.name][round_no]["errors"] + figures.pop("errors")
            results.add(service.name, round_no, figures | {"errors": errors})
        catalog = _load(tb, meter, "/tasks/available", "GET", args, "catalog")
        results.add("toolbox", round_no, {"catalog_rps": catalog["catalog_rps"], "catalog_p99": catalog["catalog_p99"],
                                          "catalog_cpu": catalog["catalog_cpu"]})
        time.sleep(1.0)  # the system idle again before the one-at-a-time latencies
        for service in order:
            latencies = e2e.polling(service, args.e2e_runs)
            results.add(service.name, round_no, {"e2e_p50": latencies.p50 * 1000,
                                                 "e2e_p99": latencies.percentile(0.99) * 1000})
        raw = e2e.raw_delay_get(args.e2e_runs).p50 * 1000
        figures = {"raw_p50": raw}
        if has_wait:
            figures["wait_p50"] = e2e.waiting(tb, args.e2e_runs).p50 * 1000
        results.add("toolbox", round_no, figures)
        print(f"round {round_no + 1}/{args.rounds} (load {os.getloadavg()[0]:.1f}): " + ", ".join(
            f"{s.name} exec {results.rounds[s.name][round_no]['exec_rps']:.0f}/s "
            f"{results.rounds[s.name][round_no]['exec_cpu']:.0f} µs, status "
            f"{results.rounds[s.name][round_no]['status_rps']:.0f}/s "
            f"{results.rounds[s.name][round_no]['status_cpu']:.0f} µs" for s in services), flush=True)
    return results


def report(results: Results, args: argparse.Namespace, workers: int, catalog_tasks: int) -> str:
    load = os.getloadavg()
    header = (f"`uv run python -m bench.api --rounds {args.rounds} --seconds {args.seconds:g} --connections "
              f"{args.connections} --workers {workers}"
              + (f" --catalog-tasks {catalog_tasks}" if catalog_tasks else "")
              + f"` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
              f"(load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}). "
              f"Toolbox: {workers} uvicorn process(es), auth + validation + run registry on, "
              f"/tasks/available with {catalog_tasks or 'the shipped'} tasks; the others one process each; one "
              "Celery worker (prefork, 2 processes, as `toolbox up` starts it) serves all of them.")
    return "\n".join([header, "", *figures_table(results), "", *ratio_table(results), "", *targets_table(results),
                      "", "Per round:", "", *rounds_table(results)])


def _toolbox_cwd(work: Path, catalog_tasks: int) -> Path:
    if not catalog_tasks:
        return ROOT
    from bench.discovery.__main__ import copy_project

    return copy_project(work / "project", catalog_tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk phase (whole seconds)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--e2e-runs", type=int, default=40, help="one-at-a-time runs per service per round")
    parser.add_argument("--workers", default="1", help="uvicorn processes for Toolbox, e.g. 1,2,4 (one table each)")
    parser.add_argument("--catalog-tasks", type=int, default=0, help="serve Toolbox with this many generated tasks")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    require_wrk()

    work = Path(tempfile.mkdtemp(prefix="toolbox-bench-api-"))
    postgres = EmbeddedPostgres(work / "pg").start()
    valkey = EmbeddedValkey(work / "valkey").start()
    env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": valkey.url, "ENVIRONMENT": "production",
           "AUTH_JWT_SECRET": os.urandom(32).hex(), "VAR_DIR": str(work / "var"), "FLOWER_UNAUTHENTICATED_API": "true"}
    os.environ.update(env)  # this process pauses the worker and runs delay().get() against the same servers
    services: list[Service] = []
    worker: Worker | None = None
    try:
        subprocess.run([sys.executable, "-m", "config.cli", "migrate"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        from config.settings import AuthSettings
        from services.auth import TokenService

        token = TokenService(AuthSettings(jwt_secret=env["AUTH_JWT_SECRET"])).mint("bench", "operator", 6 * 3600)
        cwd = _toolbox_cwd(work, args.catalog_tasks)
        worker = Worker(env, cwd, work / "worker.log")
        others = [naive("naive"), naive("naive2"), flower()]
        for service in others:
            service.start(env, work / f"{service.name}.log")
        worker.wait_ready()
        broker = redis.Redis.from_url(valkey.url)
        for count in [int(part) for part in args.workers.split(",")]:
            tb = toolbox(token, count, cwd)
            services = [tb, *others]
            tb.start(env, work / f"toolbox-{count}.log")
            for service in services:
                seconds = service.wait_ready()
                if service is tb:
                    print(f"toolbox with {count} uvicorn process(es) ready in {seconds:.1f} s "
                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
            assert postgres.process is not None and valkey.process is not None
            meter = CpuMeter({**{s.name: s.pid for s in services}, "redis": valkey.process.pid,
                              "postgres": postgres.process.pid})
            results = measure(services, worker, broker, meter, args)
            table = report(results, args, count, args.catalog_tasks)
            print(table, flush=True)
            if not args.no_write:
                title = SECTION if count == 1 and not args.catalog_tasks else (
                    f"{SECTION} ({count} uvicorn processes for Toolbox"
                    + (f", {args.catalog_tasks} tasks" if args.catalog_tasks else "") + ")")
                replace_section(ROOT / "bench" / "RESULTS.md", title, table)
            tb.stop()
    finally:
        for service in services or []:
            service.stop()
        if worker is not None:
            worker.stop()
        valkey.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
