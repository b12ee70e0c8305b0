"""Bearer JWT (HS256) → `domain.Actor`. No token, a bad signature or an expired token is a 401."""

from __future__ import annotations

from typing import Any

import jwt
from pydantic import ValidationError

from api.errors import ApiError
from domain import Actor
from domain.actors import ROLES
from domain.orgs import is_valid_path

JWT_ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "role", "org", "exp")
CLOCK_SKEW_SECONDS = 10
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers=_CHALLENGE)


def actor_from_token(token: str | None, secret: str) -> Actor:
    if not token:
        raise unauthorized("auth.missing", "this endpoint needs a bearer token: send "
                           "'Authorization: Bearer <JWT>' (mint one with `lingti token`)")
    claims = _decode(token, secret)
    try:
        actor = Actor(sub=claims["sub"], role=claims["role"], org=claims["org"], name=claims.get("name") or "")
    except (ValidationError, TypeError) as error:
        raise unauthorized("auth.invalid", f"the token's claims are unusable: {_first_problem(error)}") from None
    if actor.role not in ROLES:  # "system" is the workflow's own timers, never a user
        raise unauthorized("auth.invalid", f"role {actor.role!r} cannot be given to a user; roles are {', '.join(ROLES)}")
    if not actor.sub.strip() or not is_valid_path(actor.org):
        raise unauthorized("auth.invalid", "the token needs a non-empty sub and an org path like HQ/SX/TY/B017")
    return actor


def _decode(token: str, secret: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], leeway=CLOCK_SKEW_SECONDS,
                          options={"require": list(REQUIRED_CLAIMS)})
    except jwt.ExpiredSignatureError:
        raise unauthorized("auth.expired", "the token has expired; mint a new one with `lingti token`") from None
    except jwt.InvalidTokenError as error:
        raise unauthorized("auth.invalid", f"the token is not valid: {error}") from None


def _first_problem(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(error)
