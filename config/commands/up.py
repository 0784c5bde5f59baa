"""`toolbox up`: the whole service on one machine — embedded servers, migrations, API, worker, Beat."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("up", help="run everything locally (embedded PostgreSQL and Valkey unless "
                                       "DATABASE_URL / REDIS_URL are set); Ctrl-C stops it")
    parser.add_argument("--port", type=int, default=8000, help="API port (another free one if taken)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--no-beat", action="store_true", help="do not start Celery Beat")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from config.instance_lock import AlreadyRunning, InstanceLock
    from config.local_stack import LocalStack
    from config.supervision import Supervisor

    stack = LocalStack(api_port=args.port, concurrency=args.concurrency, beat=not args.no_beat)
    # Before anything else touches the folder: a second run must leave the first one alone.
    lock = InstanceLock(stack.var_dir / "up.lock")
    try:
        lock.acquire(stack.api_url)
    except AlreadyRunning as exc:
        print(f"toolbox up: {exc}", file=sys.stderr)
        return 1
    supervisor = Supervisor(stack)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
        _announce(stack)
        while not stopping:
            lost = supervisor.check()  # restarts a crashed child; names one it gave up on that ends the run
            if lost:
                print(f"\n{lost} keeps crashing; shutting everything down (logs in {stack.log_dir})",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("\nstopping ...", flush=True)
        return 0
    finally:
        stack.stop()
        lock.release()
        print("stopped.", flush=True)


def _announce(stack: object) -> None:
    from config.local_stack import LocalStack

    assert isinstance(stack, LocalStack)
    token = stack.dev_token()
    print(f"""
Toolbox is up.
  API        {stack.api_url}   (docs: {stack.api_url}/docs)
  PostgreSQL {stack.database_url}
  Redis      {stack.redis_url}
  logs       {stack.log_dir}
  dev token  (admin, 24 h) {token}

Try:
  curl -H "Authorization: Bearer $TOKEN" {stack.api_url}/tasks/available
  curl -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
       -d '{{}}' {stack.api_url}/tasks/execute/table-stats

Ctrl-C stops everything.""", flush=True)
    Path(stack.log_dir, "dev_token").write_text(token)
    os.chmod(Path(stack.log_dir, "dev_token"), 0o600)
