"""`toolbox token`: mint a bearer token."""

from __future__ import annotations

import argparse
import sys

from services.auth import ROLE_RANK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("token", help="mint a JWT for the API")
    parser.add_argument("--role", choices=list(ROLE_RANK), default="operator")
    parser.add_argument("--subject", default="dev")
    parser.add_argument("--ttl", type=int, default=None, help="seconds of validity (default: AUTH_TOKEN_TTL_S)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from config.settings import get_settings
    from services.auth import TokenService, subject_problem

    # Refused here with one line rather than minted: the API would refuse such a token anyway.
    if args.ttl is not None and args.ttl <= 0:
        print(f"--ttl must be a positive number of seconds, not {args.ttl}", file=sys.stderr)
        return 2
    problem = subject_problem(args.subject)
    if problem is not None:
        print(f"--subject refused: {problem}", file=sys.stderr)
        return 2
    print(TokenService(get_settings().auth).mint(args.subject, args.role, args.ttl))
    return 0
