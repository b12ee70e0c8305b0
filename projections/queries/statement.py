"""A report's SQL statement, run on the API's asyncpg pool when the caller has one, else on the SQLAlchemy engine.

Through the engine (`pool_pre_ping`, SQLAlchemy's asyncpg dialect) a read costs six round trips: the pre-ping
(BEGIN, an empty statement, ROLLBACK), BEGIN, the statement, and the ROLLBACK that returns the connection. Straight
on an asyncpg pool it is the statement alone (autocommit), plus the pool's reset query when the connection goes
back, unless the pool can skip it (`session_unchanged`, eventstore/connection.py): about a millisecond less per
report on a busy machine, which is most of a small report's time. The statement is
compiled once, from the same `text()` clause, to asyncpg's `$n` placeholders; asyncpg prepares and caches it per
connection, as SQLAlchemy's asyncpg dialect does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

_DIALECT = asyncpg_dialect()


class Statement:
    """One `text()` statement with `:name` parameters, runnable on an engine or on an asyncpg pool."""

    def __init__(self, clause: TextClause) -> None:
        compiled = clause.compile(dialect=_DIALECT)
        self.clause = clause
        self.sql = str(compiled)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())

    async def rows(self, engine: AsyncEngine, pool: asyncpg.Pool | None,
                   params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The rows, as tuples in the statement's column order."""
        if pool is None:
            async with engine.connect() as conn:
                return list((await conn.execute(self.clause, dict(params))).all())
        async with pool.acquire() as conn:
            records = await conn.fetch(self.sql, *(params[name] for name in self.names))
            _unchanged(conn)
        return records

    async def dicts(self, engine: AsyncEngine, pool: asyncpg.Pool | None,
                    params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows as dicts by column name."""
        if pool is None:
            async with engine.connect() as conn:
                return [dict(row._mapping) for row in await conn.execute(self.clause, dict(params))]
        async with pool.acquire() as conn:
            records = await conn.fetch(self.sql, *(params[name] for name in self.names))
            _unchanged(conn)
        return [dict(record) for record in records]


def _unchanged(conn: Any) -> None:
    """One plain SELECT in autocommit changed no session state: let the pool skip its reset query if it can."""
    mark = getattr(conn, "session_unchanged", None)
    if mark is not None:
        mark()
