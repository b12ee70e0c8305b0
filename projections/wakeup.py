"""LISTEN on the log's NOTIFY channel to wake the projector at once; polling covers everything else."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from types import TracebackType

import asyncpg
import structlog

from eventstore import NOTIFY_CHANNEL

EVENTS_CHANNEL = NOTIFY_CHANNEL

log = structlog.get_logger(__name__)


class EventNotifications:
    """Holds one pooled connection LISTENing on `channel`; `wake` is set by every notification.

    Losing the connection is not fatal: the projector keeps polling and `relisten()` tries again.
    """

    def __init__(self, pool: asyncpg.Pool, channel: str = EVENTS_CHANNEL) -> None:
        self._pool = pool
        self._channel = channel
        self._conn: asyncpg.Connection | None = None
        self.wake = asyncio.Event()

    @property
    def listening(self) -> bool:
        if self._conn is None:
            return False
        try:
            return not self._conn.is_closed()
        except asyncpg.InterfaceError:  # the connection died and asyncpg already took it back into the pool
            self._conn = None
            return False

    async def __aenter__(self) -> EventNotifications:
        await self.relisten()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._release()

    async def relisten(self) -> None:
        """(Re)start listening if the connection is missing or lost; then wake the caller: notifications may be lost."""
        if self.listening:
            return
        await self._release()
        try:
            self._conn = await self._pool.acquire()
            await self._conn.add_listener(self._channel, self._notified)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("listen_failed", channel=self._channel, error=str(error))
            await self._release()
            return
        self.wake.set()
        log.debug("listening", channel=self._channel)

    def _notified(self, _conn: object, _pid: int, _channel: str, _payload: str) -> None:
        self.wake.set()

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if not conn.is_closed():
                await conn.remove_listener(self._channel, self._notified)
        with suppress(asyncpg.InterfaceError):  # a dead connection is already back in the pool
            await self._pool.release(conn)
