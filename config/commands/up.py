"""`toolbox up`: the whole service on one machine — embedded servers, migrations, API, worker, Beat."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from config.commands import CommandError, port_number, positive_int

if TYPE_CHECKING:
    from config.local_stack import LocalStack


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("up", help="run everything locally (embedded PostgreSQL and Valkey unless "
                                       "DATABASE_URL / REDIS_URL are set); Ctrl-C stops it")
    parser.add_argument("--port", type=port_number, default=8000, help="API port (another free one if taken)")
    parser.add_argument("--postgres-port", type=port_number, default=54329,
                        help="embedded PostgreSQL port (another free one if taken)")
    parser.add_argument("--redis-port", type=port_number, default=63799,
                        help="embedded Valkey port (another free one if taken)")
    parser.add_argument("--concurrency", type=positive_int, default=2, help="worker processes")
    parser.add_argument("--no-beat", action="store_true", help="do not start Celery Beat")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from config.instance_lock import AlreadyRunning, InstanceLock
    from config.local_stack import LocalStack, StackError
    from config.settings import get_settings
    from config.supervision import Supervisor

    get_settings()  # a bad DATABASE_URL or secret stops here, before anything starts
    stack = LocalStack(api_port=args.port, concurrency=args.concurrency, beat=not args.no_beat,
                       postgres_port=args.postgres_port, redis_port=args.redis_port)
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
        try:
            stack.start()
        except StackError as exc:
            raise CommandError(str(exc)) from None
        lock.record(stack.api_url)  # the port may have moved off a taken one
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


def banner(stack: LocalStack) -> str:
    """What `toolbox up` prints once everything answers (the same URLs as var/up.env)."""
    from sqlalchemy.engine import make_url

    shown_db = make_url(stack.psql_url).render_as_string(hide_password=True)
    env_file = stack.var_dir / "up.env"
    return f"""
Toolbox is up.
  API        {stack.api_url}   (docs: {stack.api_url}/docs)
  console    {stack.api_url}/#token={stack.token}
  PostgreSQL {shown_db}
  Redis      {stack.redis_url}
  logs       {stack.log_dir}
  dev token  (admin, 24 h) {stack.token}

The URLs and the token are in {env_file}. In another terminal:
  . {_relative(env_file)}
  curl -H "Authorization: Bearer $TOOLBOX_TOKEN" "$TOOLBOX_URL/tasks/available"
  curl -X POST -H "Authorization: Bearer $TOOLBOX_TOKEN" -H "Content-Type: application/json" \\
       -d '{{}}' "$TOOLBOX_URL/tasks/execute/table-stats"

Ctrl-C stops everything."""


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _announce(stack: LocalStack) -> None:
    print(banner(stack), flush=True)
    token_file = Path(stack.log_dir, "dev_token")
    token_file.write_text(stack.token)
    os.chmod(token_file, 0o600)
