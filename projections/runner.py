"""The projector: feeds each read model the log in gap-free global order, one batch per transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from eventstore import EventStore
from eventstore.events import RecordedEvent
from eventstore.position import Position
from projections import checkpoints
from projections.base import Projection
from projections.leadership import Leadership
from projections.read_models import default_projections
from projections.status import projection_status
from projections.wakeup import EventNotifications

log = structlog.get_logger(__name__)

RecordAnchor = Callable[[asyncpg.Pool, dt.date], Awaitable[bool]]

ANCHOR_RETRY_SECONDS = 60.0
ROUNDS_PER_LEADERSHIP_CHECK = 20
LAG_LOG_SECONDS = 30.0


def projector_identity() -> str:
    """`host:pid:nonce`, unique per Projector object; written as `applied_by` and in the application_name
    (`lingti-projector:<identity>`, at most 54 characters: PostgreSQL keeps 63)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


class Projector:
    """Keeps read models up to date.

    `run` processes only the read models this process leads (advisory-lock leadership, see
    `projections.leadership`), so with several projectors each read model is fed by exactly one of them.
    `catch_up` processes all of them regardless (tests, rebuild). Either way a batch whose checkpoint moved
    while it was read (another projector got there first) is dropped, never applied twice.
    """

    def __init__(self, pool: asyncpg.Pool, projections: Iterable[Projection] | None = None,
                 batch_size: int = 500, poll_interval: float = 1.0, *, leadership_interval: float = 2.0,
                 timezone: str = "Asia/Shanghai", record_anchor: RecordAnchor | None = None,
                 identity: str | None = None) -> None:
        self._pool = pool
        self._store = EventStore(pool)
        self.projections: list[Projection] = list(projections) if projections is not None else default_projections()
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._leadership_interval = leadership_interval
        self._checkpoints_exist = False
        self.identity = identity or projector_identity()
        self._anchor = DailyAnchor(pool, record_anchor, timezone) if record_anchor is not None else None
        self._next_lag_report = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Process until `stop` is set: on every NOTIFY from the log, else every `poll_interval` seconds.

        Each round first refreshes leadership (keeps the lock connection alive, tries for unled read models
        every `leadership_interval` seconds), then catches up the read models it leads.
        """
        log.info("projector_started", projections=[p.name for p in self.projections], identity=self.identity)
        leadership = Leadership(self._pool, (p.name for p in self.projections), self.identity,
                                retry_interval=self._leadership_interval)
        try:
            async with EventNotifications(self._pool) as notifications:
                while not stop.is_set():
                    notifications.wake.clear()
                    led = await leadership.refresh()
                    finished = True
                    try:
                        if led:
                            # A bounded number of rounds, then leadership is checked again before going on.
                            _, finished = await self._catch_up(only=led, max_rounds=ROUNDS_PER_LEADERSHIP_CHECK)
                            if self._anchor is not None:
                                await self._anchor.maybe_record()
                            await self._report_lag(led)
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        log.exception("projector_round_failed", retry_in=self._poll_interval)
                    await notifications.relisten()
                    if finished:
                        timeout = self._poll_interval if led else min(self._poll_interval, self._leadership_interval)
                        await _first_of(stop, notifications.wake, timeout=timeout)
        finally:
            await leadership.release()
        log.info("projector_stopped", identity=self.identity)

    async def _report_lag(self, led: Iterable[str]) -> None:
        """Every LAG_LOG_SECONDS, log a warning for each led read model that is lagging (e.g. held back by a
        long transaction, naming its backend), so a stall is never silent in the projector's own log."""
        now = time.monotonic()
        if now < self._next_lag_report:
            return
        self._next_lag_report = now + LAG_LOG_SECONDS
        names = set(led)
        for status in await projection_status(self._pool):
            if status["name"] in names and status["status"] != "ok":
                blocker = status["blocker"] or {}
                log.warning("projection_lagging", projection=status["name"], status=status["status"],
                            reason=status["reason"], events_behind=status["events_behind"],
                            seconds_behind=status["seconds_behind"], held_back=status["held_back"],
                            blocker_pid=blocker.get("pid"), blocker_state=blocker.get("state"),
                            blocker_seconds=blocker.get("xact_seconds"))

    async def catch_up(self, only: Iterable[str] | None = None) -> int:
        """Apply everything readable now (to the read models named in `only`, default all); returns how many
        log events the furthest-behind read model applied."""
        applied, _ = await self._catch_up(only)
        return applied

    async def _catch_up(self, only: Iterable[str] | None = None, max_rounds: int | None = None) -> tuple[int, bool]:
        """(events applied by the furthest-behind read model, whether nothing readable is left)."""
        if not self._checkpoints_exist:
            await checkpoints.ensure(self._pool, (p.name for p in self.projections))
            self._checkpoints_exist = True
        names = None if only is None else set(only)
        chosen = [p for p in self.projections if names is None or p.name in names]
        applied = dict.fromkeys((p.name for p in chosen), 0)
        rounds = 0
        while True:
            progressed = False
            for projection, count in await self._round(chosen):
                applied[projection.name] += count or 0
                progressed = progressed or count is not None
            rounds += 1
            if not progressed or (max_rounds is not None and rounds >= max_rounds):
                return max(applied.values(), default=0), not progressed

    async def _round(self, chosen: Sequence[Projection]) -> list[tuple[Projection, int | None]]:
        """One batch for each read model: the count applied, 0 for a dropped batch, None when nothing was new."""
        batches: dict[Position, list[RecordedEvent]] = {}
        outcome = []
        for projection in chosen:
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
            await checkpoints.save(conn, projection.name, events[-1].position, self.identity)
        bound.debug("batch_applied", events=len(events), position=events[-1].position)
        return len(events)


class DailyAnchor:
    """Calls `record_anchor(pool, today)` once per day in `timezone`: the date is compared in memory, so a
    round costs nothing until the day changes. A failure is retried after ANCHOR_RETRY_SECONDS."""

    def __init__(self, pool: asyncpg.Pool, record_anchor: RecordAnchor, timezone: str) -> None:
        self._pool = pool
        self._record = record_anchor
        self._zone = ZoneInfo(timezone)
        self._done: dt.date | None = None
        self._retry_at = 0.0

    def today(self) -> dt.date:
        return dt.datetime.now(self._zone).date()

    async def maybe_record(self) -> bool | None:
        """True if an anchor was recorded now, False if the day already had one, None if nothing was due."""
        day = self.today()
        if day == self._done or time.monotonic() < self._retry_at:
            return None
        try:
            recorded = await self._record(self._pool, day)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._retry_at = time.monotonic() + ANCHOR_RETRY_SECONDS
            log.warning("audit_anchor_failed", day=day.isoformat(), error=str(error), retry_in=ANCHOR_RETRY_SECONDS)
            return None
        self._done = day
        log.info("audit_anchor_recorded" if recorded else "audit_anchor_exists", day=day.isoformat())
        return recorded


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Wait until one of `events` is set, or `timeout` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
