"""`toolbox` command line. Each sub-command lives in config/commands/<name>.py with a `register()`.

A user's mistake (a bad argument, a server that does not answer, a task module that does not
import) ends in one or two lines on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import typing
from collections.abc import Sequence

import config.commands
from config.commands import explain

# These find the servers of a running `toolbox up` (var/up.env) when DATABASE_URL/REDIS_URL are unset.
USES_RUNNING_STACK = frozenset({"run", "migrate", "tasks", "token"})


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage block only with --help)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command found in config/commands/."""
    parser = _Parser(prog="toolbox", description="Toolbox: auto-discovered background tasks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(config.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"config.commands.{module_info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `toolbox` script."""
    args = build_parser().parse_args(argv)
    adopted = None
    if args.command in USES_RUNNING_STACK:
        from config.up_env import adopt_running_stack

        adopted = adopt_running_stack()
    try:
        code = args.handler(args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("TOOLBOX_TRACEBACK"):
            raise
        message = explain(exc, adopted)
        if message is None:
            message = (f"unexpected error: {type(exc).__name__}: {exc}".splitlines()[0][:500]
                       + " (TOOLBOX_TRACEBACK=1 shows where)")
        print(f"toolbox {args.command}: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
