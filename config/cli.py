"""`toolbox` command line. Each sub-command lives in config/commands/<name>.py with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import config.commands


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command found in config/commands/."""
    parser = argparse.ArgumentParser(prog="toolbox", description="Toolbox: auto-discovered background tasks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(config.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"config.commands.{module_info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `toolbox` script."""
    args = build_parser().parse_args(argv)
    code = args.handler(args)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
