"""The projector: feeds each read model the log in gap-free global order, one batch per transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import asyncpg
import structlog

from eventstore import EventStore
from eventstore.events import RecordedEvent
from eventstore.position import Position
from projections import checkpoints
from projections.base import Projection
from projections.read_models import default_projections
from projections.wakeup import EventNotifications

log = structlog.get_logger(__name__)


class Projector:
    """Keeps read models up to date. Several projectors may run at once: a batch whose checkpoint moved
    while it was read (another projector got there first) is dropped, never applied twice."""

    def __init__(self, pool: asyncpg.Pool, projections: Iterable[Projection] | None = None,
                 batch_size: int = 500, poll_interval: float = 1.0) -> None:
        self._pool = pool
        self._store = EventStore(pool)
        self.projections: list[Projection] = list(projections) if projections is not None else default_projections()
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._checkpoints_exist = False

    async def run(self, stop: asyncio.Event) -> None:
        """Process until `stop` is set: on every NOTIFY from the log, else every `poll_interval` seconds."""
        log.info("projector_started", projections=[p.name for p in self.projections])
        async with EventNotifications(self._pool) as notifications:
            while not stop.is_set():
                notifications.wake.clear()
                try:
                    await self.catch_up()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    log.exception("projector_round_failed", retry_in=self._poll_interval)
                await notifications.relisten()
                await _first_of(stop, notifications.wake, timeout=self._poll_interval)
        log.info("projector_stopped")

    async def catch_up(self) -> int:
        """Apply everything readable now; returns how many log events the furthest-behind read model applied."""
        if not self._checkpoints_exist:
            await checkpoints.ensure(self._pool, (p.name for p in self.projections))
            self._checkpoints_exist = True
        applied = dict.fromkeys((p.name for p in self.projections), 0)
        while True:
            progressed = False
            for projection, count in await self._round():
                applied[projection.name] += count or 0
                progressed = progressed or count is not None
            if not progressed:
                return max(applied.values(), default=0)

    async def _round(self) -> list[tuple[Projection, int | None]]:
        """One batch for each read model: the count applied, 0 for a dropped batch, None when nothing was new."""
        batches: dict[Position, list[RecordedEvent]] = {}
        outcome = []
        for projection in self.projections:
            position = await checkpoints.load(self._pool, projection.name)
            if position not in batches:  # read models at the same position share one read
                batches[position] = await self._store.read_all(position, self._batch_size)
            events = batches[position]
            count = await self._apply(projection, position, events) if events else None
            outcome.append((projection, count))
        return outcome

    async def _apply(self, projection: Projection, position: Position, events: Sequence[RecordedEvent]) -> int:
        """Apply one batch and move the checkpoint in one transaction, unless the checkpoint moved meanwhile."""
        bound = log.bind(projection=projection.name)
        async with self._pool.acquire() as conn, conn.transaction():
            current = await checkpoints.lock(conn, projection.name)
            if current is None:  # deleted behind our back: start again from the beginning (apply is idempotent)
                await checkpoints.ensure(conn, [projection.name])
                return 0
            if current != position:
                bound.debug("batch_dropped_checkpoint_moved", read_after=position, checkpoint=current)
                return 0
            await projection.apply(conn, events)
            await checkpoints.save(conn, projection.name, events[-1].position)
        bound.debug("batch_applied", events=len(events), position=events[-1].position)
        return len(events)


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Wait until one of `events` is set, or `timeout` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
