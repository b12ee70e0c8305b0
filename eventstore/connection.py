"""asyncpg pools with the jsonb codec the event store relies on."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
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


class LingtiConnection(asyncpg.Connection):
    """A pooled connection that can skip the pool's reset round trip when its user changed no session state.

    Releasing a connection to an asyncpg pool costs one more round trip: ``SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``. For a one-statement autocommit append that doubles the round trips. A
    user that ran only plain statements (no SET, LISTEN, advisory lock, cursor or open transaction) since it
    acquired the connection calls ``session_unchanged()``; the next release then skips the reset query (the
    client-side part of the reset, which rolls back an open transaction and drops listeners, still runs).
    """

    __slots__ = ("_session_unchanged",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_unchanged = False

    def session_unchanged(self) -> None:
        """Promise that this acquisition changed no session state: the pool's reset query may be skipped once."""
        self._session_unchanged = True


def _skipping_reset(
    custom: Callable[[asyncpg.Connection], Awaitable[None]] | None,
) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    async def reset(conn: asyncpg.Connection) -> None:
        if getattr(conn, "_session_unchanged", False):
            conn._session_unchanged = False
            return
        if custom is not None:
            await custom(conn)
            return
        query = conn.get_reset_query()
        if query:
            await conn.execute(query)

    return reset


# asyncpg >= 0.30 takes a pool `reset` coroutine; older versions always run the full reset query.
_POOL_RESET = "reset" in inspect.signature(asyncpg.create_pool).parameters


async def create_pool(url: str, **kw: Any) -> asyncpg.Pool:
    """Create an asyncpg pool whose connections decode/encode jsonb as Python objects.

    ``kw`` goes to ``asyncpg.create_pool``; an ``init`` given there runs after the codec is registered, a
    ``reset`` given there replaces the default reset query. Either is skipped for a connection released after
    ``LingtiConnection.session_unchanged()`` (the event store's appends and reads).
    """
    user_init = kw.pop("init", None)

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if user_init is not None:
            await user_init(conn)

    if _POOL_RESET and "connection_class" not in kw:
        kw["connection_class"] = LingtiConnection
        kw["reset"] = _skipping_reset(kw.get("reset"))
    return await asyncpg.create_pool(to_asyncpg_dsn(url), init=init, **kw)
