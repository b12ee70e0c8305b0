"""The SQLAlchemy engine the read-side queries run on."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_read_engine(database_url: str, **kw: Any) -> AsyncEngine:
    """An asyncpg-backed engine; accepts `postgresql://…` (libpq/asyncpg style) as well as `postgresql+asyncpg://…`."""
    parts = urlsplit(database_url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://…")
    kw.setdefault("pool_pre_ping", True)
    return create_async_engine(urlunsplit(("postgresql+asyncpg", *parts[1:])), **kw)
