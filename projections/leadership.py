"""Which projector process leads which read model: session-level advisory locks on one held connection.

Each read model `name` has the lock `pg_try_advisory_lock(hashtext('lingti-projection:' || name))`. A projector
holds the locks it won on one connection it keeps for as long as it runs; the others try again every
`retry_interval` seconds. When the holder dies its connection closes, PostgreSQL releases the locks, and the
next try of another projector takes over. Losing the connection means losing every lock: the projector then
leads nothing until it wins them again. (A batch applied while leadership is being lost is still safe: the
checkpoint is locked and compared in the batch's transaction, see `Projector._apply`.)

Advisory locks are per database, so test databases on one server do not interfere.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import suppress

import asyncpg
import structlog

LOCK_PREFIX = "lingti-projection:"
APPLICATION_PREFIX = "lingti-projector:"

_TRY = """
SELECT n AS name, pg_try_advisory_lock(hashtext($2 || n)) AS won
FROM unnest($1::text[]) AS n
"""
_UNLOCK = "SELECT pg_advisory_unlock(hashtext($2 || n)) FROM unnest($1::text[]) AS n"

# Who holds each read model's lock, seen from any connection to the same database. A bigint advisory key k
# shows in pg_locks as classid = k >> 32, objid = k & 0xffffffff, objsubid = 1 (unsigned 32-bit halves).
HOLDERS = """
SELECT n AS name, l.pid, a.application_name, a.backend_start, a.client_addr::text AS client_addr
FROM unnest($1::text[]) AS n
JOIN pg_locks l
  ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
 AND l.classid::bigint = ((hashtext($2 || n)::bigint >> 32) & 4294967295)
 AND l.objid::bigint = (hashtext($2 || n)::bigint & 4294967295)
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
"""

log = structlog.get_logger(__name__)


async def leaders(conn: asyncpg.Connection | asyncpg.Pool, names: Iterable[str]) -> dict[str, dict]:
    """The holder of each read model's lock that has one: backend pid, application_name, since when."""
    rows = await conn.fetch(HOLDERS, list(names), LOCK_PREFIX)
    return {
        r["name"]: {"pid": r["pid"], "application_name": r["application_name"],
                    "backend_start": r["backend_start"].isoformat() if r["backend_start"] else None}
        for r in rows
    }


class Leadership:
    """The read models this process leads. `refresh()` keeps the held connection alive and tries for the rest."""

    def __init__(self, pool: asyncpg.Pool, names: Iterable[str], identity: str,
                 retry_interval: float = 2.0) -> None:
        self._pool = pool
        self._names = list(names)
        self._identity = identity
        self._retry_interval = retry_interval
        self._conn: asyncpg.Connection | None = None
        self._next_try = 0.0
        self.led: frozenset[str] = frozenset()

    @property
    def backend_pid(self) -> int | None:
        """The server process holding our locks (what `pg_locks.pid` shows), or None."""
        return self._conn.get_server_pid() if self._conn is not None else None

    async def refresh(self, force: bool = False) -> frozenset[str]:
        """Check the held connection, and if due (or `force`) try to win the read models not yet led."""
        now = time.monotonic()
        missing = [n for n in self._names if n not in self.led]
        try:
            if self._conn is None or self._conn.is_closed():
                self._lost("connection_closed")
                self._conn = await self._pool.acquire()
                name = _quoted(f"{APPLICATION_PREFIX}{self._identity}"[:63])
                await self._conn.execute(f"SET application_name = '{name}'")
            if missing and (force or now >= self._next_try):
                self._next_try = now + self._retry_interval
                rows = await self._conn.fetch(_TRY, missing, LOCK_PREFIX)
                won = frozenset(r["name"] for r in rows if r["won"])
                if won:
                    self.led = self.led | won
                    log.info("projection_leadership_acquired", projections=sorted(won), leads=sorted(self.led),
                             identity=self._identity, backend_pid=self.backend_pid)
            elif self.led:
                await self._conn.fetchval("SELECT 1")  # still alive, so the locks are still ours
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._lost(f"{type(error).__name__}: {error}")
            await self._drop_connection()
        return self.led

    async def release(self) -> None:
        """Give every lock back (on a clean stop, so another projector takes over at once)."""
        if self._conn is not None and self.led:
            with suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self._conn.fetch(_UNLOCK, sorted(self.led), LOCK_PREFIX)
            log.info("projection_leadership_released", projections=sorted(self.led), identity=self._identity)
        self.led = frozenset()
        await self._drop_connection()

    def _lost(self, reason: str) -> None:
        if self.led:
            log.warning("projection_leadership_lost", projections=sorted(self.led), identity=self._identity,
                        reason=reason)
        self.led = frozenset()
        self._next_try = 0.0

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._pool.release(conn)  # the pool's reset also unlocks everything (pg_advisory_unlock_all)


def _quoted(text: str) -> str:
    return text.replace("'", "''")
