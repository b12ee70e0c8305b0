"""asyncpg pools with the jsonb codec the event store relies on."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def to_asyncpg_dsn(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+driver://`` URLs too; asyncpg wants ``postgresql://``."""
    parts = urlsplit(url)
    if parts.scheme.lower().startswith("postgresql+"):
        return urlunsplit(("postgresql", *parts[1:]))
    return url


async def create_pool(url: str, **kw: Any) -> asyncpg.Pool:
    """Create an asyncpg pool whose connections decode/encode jsonb as Python objects.

    ``kw`` goes to ``asyncpg.create_pool``; an ``init`` given there runs after the codec is registered.
    """
    user_init = kw.pop("init", None)

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if user_init is not None:
            await user_init(conn)

    return await asyncpg.create_pool(to_asyncpg_dsn(url), init=init, **kw)
