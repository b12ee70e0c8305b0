"""Blue/green rebuild of read models: build fresh tables from position 0 beside the live ones, then switch.

1. **Build.** For every table of the chosen read models, `lingti_projection_shadow` creates an empty copy under
   the same name in the schema `projection_rebuild` (`CREATE TABLE … (LIKE live INCLUDING ALL)`, same grants).
   The log is applied from position 0 with `SET LOCAL search_path = projection_rebuild`, so the read models'
   own SQL (`topics`, `topic_completion`) writes the shadow tables, one batch per transaction. The live tables
   and their checkpoints keep serving and moving meanwhile.
2. **Switch, in one transaction:** lock the read models' checkpoint rows (a running projector's next batch
   waits, then finds its checkpoint moved and drops its batch), apply the tail of the log that arrived during
   the build to the shadow tables, `lingti_projection_swap` each table (ACCESS EXCLUSIVE lock on the live
   table, drop it, move the shadow into its place, give the indexes the live names), move the checkpoints to
   the shadow's position, commit. Readers see the complete old rows until the commit and the complete new rows
   after it; a query arriving during the switch waits for it (`lock_timeout` bounds that wait: if the lock
   cannot be had within SWITCH_LOCK_TIMEOUT, e.g. behind a long reader, the switch is rolled back and retried).

Only one rebuild runs at a time (advisory lock `lingti-rebuild`). If a rebuild dies, the live tables are
untouched; the next rebuild starts its shadow afresh. The functions are `SECURITY DEFINER` (migration
0004_projector): the application role can rebuild without owning the tables.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterable, Sequence

import asyncpg
import structlog

from eventstore import EventStore
from eventstore.position import Position
from projections import checkpoints
from projections.base import Projection
from projections.read_models import default_projections

log = structlog.get_logger(__name__)

SHADOW_SCHEMA = "projection_rebuild"
REBUILD_LOCK = "lingti-rebuild"
SWITCH_LOCK_TIMEOUT = "5s"
SWITCH_ATTEMPTS = 5

Progress = Callable[[str, int], None]


class RebuildBusy(Exception):
    """Another rebuild holds the rebuild lock."""


async def rebuild(pool: asyncpg.Pool, projections: Iterable[Projection] | None = None, batch_size: int = 500,
                  progress: Progress | None = None) -> int:
    """Rebuild the read models (default: all) from position 0 and switch them in; returns the number of log
    events applied. Safe beside running projectors and readers. `progress(phase, events)` is told as it goes."""
    chosen = list(projections) if projections is not None else default_projections()
    names = sorted(p.name for p in chosen)
    tables = [table for p in chosen for table in p.tables]
    store = EventStore(pool)
    applied_by = f"rebuild:{socket.gethostname()}:{os.getpid()}"
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", REBUILD_LOCK):
            raise RebuildBusy("another rebuild is running (advisory lock lingti-rebuild); wait for it to finish")
        try:
            await checkpoints.ensure(conn, names)
            for table in tables:
                await conn.execute("SELECT lingti_projection_shadow($1)", table)
            log.info("rebuild_started", projections=names, tables=tables)
            position, applied = Position.start(), 0
            while events := await store.read_all(position, batch_size):
                async with conn.transaction():
                    await _apply_to_shadow(conn, chosen, events)
                position, applied = events[-1].position, applied + len(events)
                if progress is not None:
                    progress("build", applied)
            for table in tables:
                await conn.execute("SELECT lingti_projection_analyze_shadow($1)", table)
            tail = await _switch(conn, store, chosen, names, tables, position, batch_size, applied_by)
            applied += tail
            if progress is not None:
                progress("switched", applied)
            log.info("rebuild_finished", projections=names, events=applied, tail_events=tail)
            return applied
        finally:  # best effort: a failure here must not hide the rebuild's own error
            try:
                for table in tables:
                    await conn.execute("SELECT lingti_projection_drop_shadow($1)", table)
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", REBUILD_LOCK)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("rebuild_cleanup_failed", error=str(error))  # the next rebuild starts afresh


async def _switch(conn: asyncpg.Connection, store: EventStore, chosen: Sequence[Projection], names: list[str],
                  tables: list[str], position: Position, batch_size: int, applied_by: str) -> int:
    """Catch up the tail and swap the shadow tables in, in one transaction; retried when a lock times out."""
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        tail, at = 0, position
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{SWITCH_LOCK_TIMEOUT}'")
                await conn.fetch("SELECT name FROM projection_checkpoints WHERE name = ANY($1::text[]) "
                                 "ORDER BY name FOR UPDATE", names)
                search_path = await conn.fetchval("SELECT current_setting('search_path')")
                while events := await store.read_all(at, batch_size):
                    await _apply_to_shadow(conn, chosen, events, restore=search_path)
                    at, tail = events[-1].position, tail + len(events)
                for table in tables:
                    await conn.execute("SELECT lingti_projection_swap($1)", table)
                for name in names:
                    await checkpoints.save(conn, name, at, applied_by)
            log.info("rebuild_switched", projections=names, position=at, tail_events=tail, attempt=attempt)
            return tail
        except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as error:
            if attempt == SWITCH_ATTEMPTS:
                raise
            log.warning("rebuild_switch_retry", attempt=attempt, error=str(error))
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


async def _apply_to_shadow(conn: asyncpg.Connection, chosen: Sequence[Projection], events: Sequence,
                           restore: str | None = None) -> None:
    """Apply inside the caller's transaction with the shadow schema as the only one searched (a table missing
    from it is an error, never a write to the live one); then set the search path back to `restore` if given
    (else it ends with the transaction)."""
    await conn.execute(f"SET LOCAL search_path = {SHADOW_SCHEMA}")
    for projection in chosen:
        await projection.apply(conn, events)
    if restore is not None:
        await conn.execute("SELECT set_config('search_path', $1, true)", restore)
