"""Minting the HS256 bearer tokens the API accepts (`lingti token`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jwt

from domain.actors import ROLES
from domain.orgs import is_valid_path

JWT_ALGORITHM = "HS256"
DEFAULT_TTL = timedelta(hours=8)
_TTL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> timedelta:
    """'30m', '8h', '7d' (or '45s') → timedelta; anything else is a ValueError saying the format."""
    match = _TTL.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"ttl {text!r} is not a positive duration like 30m, 8h or 7d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def issue_token(
    secret: str,
    *,
    sub: str,
    role: str,
    org: str,
    name: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> str:
    """A signed token with claims sub, role, org, name, iat and exp."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
    if not is_valid_path(org):
        raise ValueError(f"org {org!r} is not an organisation path like HQ/SX/TY/B017")
    if not sub.strip():
        raise ValueError("sub (the user id) must not be empty")
    issued_at = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "sub": sub,
        "role": role,
        "org": org,
        "name": name or sub,
        "iat": issued_at,
        "exp": issued_at + ttl,
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)
