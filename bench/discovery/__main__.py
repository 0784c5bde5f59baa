"""`uv run python -m bench.discovery`: start-up and catalog cost with 500 generated task files.

The project is copied to a scratch folder (so the checkout is never touched), 500 task files
are generated there across 20 domains, and the same measurements run on the shipped tasks
only and on shipped + 500: discovery import time, API start-up to its first /health answer,
worker start-up to "ready", and the latency of GET /tasks/available.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.results import replace_section
from config.embedded import EmbeddedPostgres, EmbeddedValkey, free_port

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = '''"""Generated task {index}."""
from datetime import date
from enum import Enum
from typing import Annotated

from pydantic import Field

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory


class Mode{index}(str, Enum):
    full = "full"
    delta = "delta"


@celery_app.task(name="{domain}.job_{index}", time_limit=600)
async def job_{index}(
    repositories: RepositoryFactory,
    progress: Progress,
    day: date | None = None,
    mode: Mode{index} = Mode{index}.delta,
    limit: Annotated[int, Field(ge=1, le=100_000)] = 1000,
    label: Annotated[str, Field(max_length=40)] = "x",
) -> dict[str, int]:
    """Generated job number {index}, with typical parameters."""
    return {{"index": {index}, "limit": limit}}
'''


def copy_project(target: Path, generated: int) -> Path:
    """The project without .venv/var/.git, plus `generated` task files."""
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "zz_*"))
    for index in range(generated):
        domain = f"bench{index % 20:02d}"
        folder = target / "background" / "tasks" / domain
        folder.mkdir(exist_ok=True)
        (folder / f"job_{index:03d}_task.py").write_text(TEMPLATE.format(index=index, domain=domain))
    return target


def _timed_start(command: list[str], cwd: Path, env: dict[str, str], ready: Callable[[Path], bool]) -> tuple[float, subprocess.Popen[bytes]]:
    log = tempfile.NamedTemporaryFile(delete=False, suffix=".log")  # noqa: SIM115
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not ready(Path(log.name)):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{command} failed:\n{Path(log.name).read_text()[-2000:]}")
        time.sleep(0.02)
    return time.perf_counter() - started, process


def measure(project: Path, env: dict[str, str], samples: int) -> dict[str, float]:
    """Start-up times and catalog latency for the project at `project`."""
    imports = []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                               "from config.celery_config import discovered_tasks; "
                               "print(len(discovered_tasks), time.perf_counter() - t)"],
                              cwd=project, env=env, capture_output=True, text=True, check=True)
        count, seconds = done.stdout.split()
        imports.append(float(seconds))
    port = free_port()
    token_cmd = subprocess.run([sys.executable, "-m", "config.cli", "token", "--role", "viewer"], cwd=project, env=env,
                               capture_output=True, text=True, check=True)
    headers = {"Authorization": f"Bearer {token_cmd.stdout.strip()}"}

    def api_ready(_: Path) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    api_seconds, api = _timed_start([sys.executable, "-m", "uvicorn", "main:app", "--port", str(port),
                                     "--log-level", "warning"], project, env, api_ready)
    try:
        worker_seconds, worker = _timed_start(
            [sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "-Q", "bench-idle", "-n", f"bench-{port}@%h"],
            project, env, lambda log: "ready." in log.read_text(errors="replace"))
    except BaseException:
        api.terminate()
        api.wait(20)
        raise
    try:
        latencies = []
        size = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            for _ in range(samples):
                started = time.perf_counter()
                response = http.get("/tasks/available")
                latencies.append(time.perf_counter() - started)
                size = len(response.content)
                assert response.status_code == 200
        latencies.sort()
        return {"tasks": float(count), "import_s": statistics.median(imports), "api_start_s": api_seconds,
                "worker_start_s": worker_seconds, "available_p50_ms": latencies[len(latencies) // 2] * 1000,
                "available_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000, "available_kb": size / 1024}
    finally:
        for process in (api, worker):
            process.terminate()
            process.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="toolbox-bench-discovery-"))
    postgres = EmbeddedPostgres(work / "pg", fast_unsafe=True).start()
    valkey = EmbeddedValkey(work / "valkey").start()
    env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": valkey.url, "ENVIRONMENT": "test",
           "AUTH_JWT_SECRET": os.urandom(32).hex(), "VAR_DIR": str(work / "var")}
    env.pop("PYTHONPATH", None)
    try:
        rows = {}
        for label, generated in (("shipped tasks only", 0), (f"shipped + {args.tasks} generated", args.tasks)):
            project = copy_project(work / f"project-{generated}", generated)
            subprocess.run([sys.executable, "-m", "config.cli", "migrate"], cwd=project, env=env, check=True,
                           capture_output=True)
            rows[label] = measure(project, env, args.samples)
        lines = ["| project | tasks | discovery import s | API start-up s | worker start-up s | /tasks/available p50 ms | p99 ms | size KiB |",
                 "|---|---|---|---|---|---|---|---|"]
        for label, r in rows.items():
            lines.append(f"| {label} | {r['tasks']:.0f} | {r['import_s']:.2f} | {r['api_start_s']:.2f} | "
                         f"{r['worker_start_s']:.2f} | {r['available_p50_ms']:.2f} | {r['available_p99_ms']:.2f} | "
                         f"{r['available_kb']:.0f} |")
        table = (f"`uv run python -m bench.discovery --tasks {args.tasks}` on {os.cpu_count()} cores, "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. The catalog is built once at start-up "
                 "and served as prebuilt bytes.\n\n" + "\n".join(lines))
        print(table)
        if not args.no_write:
            replace_section(ROOT / "bench" / "RESULTS.md", "Discovery at scale", table)
    finally:
        valkey.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
