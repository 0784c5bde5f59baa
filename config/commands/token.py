"""`toolbox token`: mint a bearer token."""

from __future__ import annotations

import argparse

from services.auth import ROLE_RANK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("token", help="mint a JWT for the API")
    parser.add_argument("--role", choices=list(ROLE_RANK), default="operator")
    parser.add_argument("--subject", default="dev")
    parser.add_argument("--ttl", type=int, default=None, help="seconds of validity (default: AUTH_TOKEN_TTL_S)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from config.settings import get_settings
    from services.auth import TokenService

    print(TokenService(get_settings().auth).mint(args.subject, args.role, args.ttl))
    return 0
