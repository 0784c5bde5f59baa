"""JWT bearer tokens: minting (CLI) and verification (API). Roles: viewer < operator < admin."""

from __future__ import annotations

import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from config.settings import AuthSettings
from schemas.errors import AuthenticationError, InvalidTokenError, PermissionDeniedError, TokenExpiredError

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "operator": 2, "admin": 3}
_CACHE_LIMIT = 4096
# The subject is recorded as the run's `submitted_by` (a 200-character column) and written into
# logs: a longer one, or one with NUL or a line break, is refused where the token is checked,
# before it can reach a write shared with other callers.
SUBJECT_MAX_LENGTH = 200


def subject_problem(subject: object) -> str | None:
    """Why `subject` cannot be a token subject, or None when it can."""
    if not isinstance(subject, str) or not subject:
        return "the subject is empty"
    if len(subject) > SUBJECT_MAX_LENGTH:
        return f"the subject is {len(subject)} characters long; at most {SUBJECT_MAX_LENGTH} are allowed"
    if any(unicodedata.category(ch) == "Cc" for ch in subject):
        return "the subject contains a control character (NUL, line break, tab, ...)"
    return None
HOW_TO_GET_ONE = "`uv run toolbox token --role operator` mints one (beside `toolbox up`: $TOOLBOX_TOKEN in var/up.env)."


def _why_invalid(error: jwt.PyJWTError) -> str:
    """A sentence on why PyJWT refused a token (its class names mean nothing to a caller)."""
    if isinstance(error, jwt.InvalidSignatureError):
        reason = "Its signature does not match: it was signed with another secret, or altered."
    elif isinstance(error, jwt.InvalidAlgorithmError):
        reason = "It is signed with an algorithm this API does not accept."
    elif isinstance(error, jwt.InvalidIssuerError):
        reason = "It was issued by someone other than this Toolbox."
    elif isinstance(error, jwt.MissingRequiredClaimError):
        reason = f"It lacks the '{error.claim}' claim."
    elif isinstance(error, jwt.ImmatureSignatureError):
        reason = "It is not valid yet (its issue or not-before time is in the future)."
    elif isinstance(error, jwt.DecodeError):
        reason = "It is not a well-formed JWT (three base64url parts separated by dots)."
    else:
        reason = "It could not be verified."
    return f"{reason} {HOW_TO_GET_ONE}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's subject and role."""

    subject: str
    role: str
    expires_at: float

    def require(self, role: str) -> None:
        """PermissionDeniedError unless this principal's role is at least `role`."""
        if ROLE_RANK.get(self.role, 0) < ROLE_RANK[role]:
            raise PermissionDeniedError(
                f"This needs the {role} role; your token has {self.role!r}.",
                description="Ask an admin for a token with a higher role (toolbox token --role ...).",
            )


ANONYMOUS_ADMIN = Principal(subject="anonymous", role="admin", expires_at=float("inf"))


class TokenService:
    """Mints and verifies HS256 tokens with the configured secret."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        # Verified tokens are remembered until they expire: a signature check per request is
        # the single largest cost of an authenticated call.
        self._verified: dict[str, Principal] = {}

    def mint(self, subject: str, role: str = "operator", ttl_s: int | None = None) -> str:
        """A signed token for `subject` with `role`, valid `ttl_s` seconds."""
        if role not in ROLE_RANK:
            raise ValueError(f"role must be one of {', '.join(ROLE_RANK)}")
        problem = subject_problem(subject)
        if problem is not None:
            raise ValueError(problem)
        now = int(time.time())
        claims = {"sub": subject, "role": role, "iat": now, "exp": now + (ttl_s or self._settings.token_ttl_s),
                  "iss": self._settings.issuer, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._settings.jwt_secret, algorithm=self._settings.jwt_algorithm)

    def verify(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer ...` header; AuthenticationError otherwise."""
        if not authorization:
            raise AuthenticationError("Missing bearer token.",
                                      description=f"Send the header 'Authorization: Bearer <token>'. {HOW_TO_GET_ONE}")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("Authorization must be 'Bearer <token>'.",
                                      description=f"The header must be the word Bearer, a space and the token. {HOW_TO_GET_ONE}")
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached.expires_at > now:
            return cached
        try:
            claims = jwt.decode(token, self._settings.jwt_secret, algorithms=[self._settings.jwt_algorithm],
                                issuer=self._settings.issuer, options={"require": ["exp", "sub", "role"]})
        except jwt.ExpiredSignatureError:
            raise TokenExpiredError("The token has expired.",
                                      description=f"Its validity ended; use a new token. {HOW_TO_GET_ONE}") from None
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("The token is invalid.",
                                      description=_why_invalid(exc)) from None
        role = claims.get("role")
        if not isinstance(role, str) or role not in ROLE_RANK or not isinstance(claims.get("sub"), str):
            raise InvalidTokenError("The token has no valid role or subject.",
                                      description=f"Its 'role' must be viewer, operator or admin and its 'sub' a name. "
                                                  f"{HOW_TO_GET_ONE}")
        problem = subject_problem(claims["sub"])
        if problem is not None:
            raise InvalidTokenError(
                f"The token is refused: {problem}.",
                description=f"A token subject is 1-{SUBJECT_MAX_LENGTH} characters without control "
                            "characters; mint a new token (toolbox token --subject ...).")
        principal = Principal(subject=claims["sub"], role=role, expires_at=float(claims["exp"]))
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = principal
        return principal
