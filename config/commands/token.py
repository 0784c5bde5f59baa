"""`toolbox token`: mint a bearer token, recorded in the audit trail first."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys

from services.auth import ROLE_RANK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("token", help="mint a JWT for the API (recorded in the audit trail)")
    parser.add_argument("--role", choices=list(ROLE_RANK), default="operator")
    parser.add_argument("--subject", default="dev")
    parser.add_argument("--ttl", type=int, default=None, help="seconds of validity (default: AUTH_TOKEN_TTL_S)")
    parser.set_defaults(handler=run)


async def _record(claims: dict[str, object]) -> None:
    from config.database import build_engine
    from config.repository_factory import RepositoryFactory
    from config.settings import get_settings
    from services.audit import AuditAction, AuditService

    engine = build_engine(get_settings().database, pooled=False)
    try:
        host = socket.gethostname()
        await AuditService(RepositoryFactory(engine)).record(
            AuditAction.TOKEN_MINT, f"{getpass.getuser()}@{host}", client=f"cli@{host}",
            params={"subject": claims["sub"], "role": claims["role"], "expires_at": claims["exp"]},
            detail={"jti": claims["jti"]})
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    import jwt

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
    token = TokenService(get_settings().auth).mint(args.subject, args.role, args.ttl)
    claims = jwt.decode(token, options={"verify_signature": False})
    try:
        asyncio.run(_record(claims))
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        # An unrecorded token would be an unaudited one: none is printed.
        print(f"toolbox token: could not record the token in the audit trail ({type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}); no token was issued.", file=sys.stderr)
        return 1
    print(token)
    return 0
