"""Blue/green rebuild of read models: build fresh tables from position 0 beside the live ones, then switch.

1. **Build.** For every table of the chosen read models, `lingti_projection_shadow` creates an empty copy under
   the same name in the schema `projection_rebuild` (`CREATE TABLE … (LIKE live INCLUDING ALL)`, same grants).
   Read models that can fold whole streams (`projections.base.StreamFolding`: every default one) are built
   stream by stream: in one REPEATABLE READ snapshot, every event committed below the snapshot's xmin is read in
   `(stream_id, stream_version)` order, each topic's stream is decoded once and folded by every read model from
   its initial state, and the resulting rows are written with COPY, once per topic (a topic's rows would
   otherwise be rewritten after each of its events: ~30 times in the benchmarks' log). Those rows are exactly
   what the log up to the build's position (the greatest position below the xmin) leaves: every event at or below
   it is committed and below the xmin, and a stream's versions are in global order. Memory holds one stream and
   the rows of COPY_TOPICS topics. With `workers > 1` the streams are split into ranges by `stream_id`, folded by
   that many processes importing the same snapshot. Any other read model is built by applying the log from
   position 0 in global order, one batch per transaction (`SET LOCAL search_path = projection_rebuild`, so the
   read models' own SQL writes the shadow tables). The live tables and their checkpoints keep serving and moving
   meanwhile.
2. **Switch, in one transaction:** lock the read models' checkpoint rows (a running projector's next batch
   waits, then finds its checkpoint moved and drops its batch), apply the tail of the log that arrived during
   the build to the shadow tables (in global order, the projector's own `apply`), `lingti_projection_swap` each
   table (ACCESS EXCLUSIVE lock on the live table, drop it, move the shadow into its place, give the indexes the
   live names), move the checkpoints to the shadow's position, commit. Readers see the complete old rows until
   the commit and the complete new rows after it; a query arriving during the switch waits for it
   (`lock_timeout` bounds that wait: if the lock cannot be had within SWITCH_LOCK_TIMEOUT, e.g. behind a long
   reader, the switch is rolled back and retried).

Only one rebuild runs at a time (advisory lock `lingti-rebuild`). If a rebuild dies, the live tables are
untouched; the next rebuild starts its shadow afresh. The functions are `SECURITY DEFINER` (migration
0004_projector): the application role can rebuild without owning the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import asyncpg
import structlog

from domain.events import EVENT_TYPES
from eventstore import EventStore
from eventstore.connection import _init_connection, to_asyncpg_dsn
from eventstore.position import Position
from eventstore.ranges import Range, run_range_workers, stream_bounds
from eventstore.upcasting import upcasters
from projections import checkpoints
from projections.base import (
    TOPIC_STREAM_PREFIX, JsonText, Projection, ProjectionError, StreamEvent, decode_event,
)
from projections.read_models import default_projections

log = structlog.get_logger(__name__)

SHADOW_SCHEMA = "projection_rebuild"
REBUILD_LOCK = "lingti-rebuild"
SWITCH_LOCK_TIMEOUT = "5s"
SWITCH_ATTEMPTS = 5
COPY_TOPICS = 2_000  # topics whose rows are written per COPY round
PARALLEL_FROM_EVENTS = 50_000  # suggested_workers: below this, starting a process costs more than it saves
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9]+)?")

Progress = Callable[[str, int], None]

# Everything committed below the snapshot's xmin, stream by stream. Metadata travels only for rows an upcaster
# needs it for ($2: "event_type/schema_version" of every registered upcast step).
_STREAMS = """
SELECT stream_id, stream_version, event_type, schema_version, data::text,
       CASE WHEN event_type || '/' || schema_version = ANY($2::text[]) THEN metadata::text END,
       occurred_at
FROM events WHERE tx_id < $1::xid8 {range}
ORDER BY stream_id, stream_version
"""
_BUILD_END = """
SELECT tx_id, global_position FROM events WHERE tx_id < $1::xid8
ORDER BY tx_id DESC, global_position DESC LIMIT 1
"""
_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())"


class RebuildBusy(Exception):
    """Another rebuild holds the rebuild lock."""


async def rebuild(pool: asyncpg.Pool, projections: Iterable[Projection] | None = None, batch_size: int = 500,
                  progress: Progress | None = None, *, workers: int = 1, dsn: str | None = None) -> int:
    """Rebuild the read models (default: all) from position 0 and switch them in; returns the number of log
    events applied. Safe beside running projectors and readers. `progress(phase, events)` is told as it goes.

    `batch_size`: rows per FETCH of the stream-by-stream build, events per transaction otherwise and in the
    switch. `workers > 1` (needs `dsn`, the database URL) folds the streams in that many processes (this one and
    `workers - 1` started with `python -c`, the same interpreter).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1 and dsn is None:
        raise ValueError("rebuilding with several workers needs the database URL (dsn)")
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
            log.info("rebuild_started", projections=names, tables=tables, workers=workers)
            if all(_folds_streams(p) for p in chosen):
                position, applied = await _build_by_streams(pool, chosen, batch_size, progress, workers, dsn)
            else:  # a read model that only knows `apply`: all are built in global order, batch by batch
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


async def suggested_workers(pool: asyncpg.Pool | asyncpg.Connection) -> int:
    """Processes worth folding with: one for a small log, up to 4 (one per CPU) for a large one."""
    estimate = await pool.fetchval("SELECT reltuples::bigint FROM pg_class WHERE oid = 'events'::regclass")
    if estimate is None or estimate < PARALLEL_FROM_EVENTS:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def _folds_streams(projection: Projection) -> bool:
    return callable(getattr(projection, "fold_rows", None)) and isinstance(getattr(projection, "copy_columns", None),
                                                                          dict)


# --- the stream-by-stream build ------------------------------------------------------------------------------------


async def _build_by_streams(pool: asyncpg.Pool, chosen: Sequence[Any], fetch_size: int, progress: Progress | None,
                            workers: int, dsn: str | None) -> tuple[Position, int]:
    """Fold every stream committed below one snapshot's xmin into the shadow tables; (position reached, events)."""
    upcast_keys = [f"{event_type}/{version}" for event_type, version in upcasters.registered()]
    async with pool.acquire() as reader, pool.acquire() as writer, _copy_codecs(writer):
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            xmin = await reader.fetchval(_XMIN)
            end = await reader.fetchrow(_BUILD_END, xmin)
            position = Position(end["tx_id"], end["global_position"]) if end else Position.start()
            if end is None:
                return position, 0
            defaults = {type(p) for p in default_projections()}
            if workers == 1 or not all(type(p) in defaults for p in chosen):  # workers know only the defaults
                count = await _fold_range(reader, writer, chosen, xmin, None, None, upcast_keys, fetch_size,
                                          progress)
                return position, count
            assert dsn is not None
            snapshot = await reader.fetchval("SELECT pg_export_snapshot()")
            bounds = await stream_bounds(reader, workers)
            ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
            task = {"dsn": dsn, "snapshot": snapshot, "xmin": xmin, "names": [p.name for p in chosen],
                    "upcast_keys": upcast_keys, "fetch_size": fetch_size}
            remote = asyncio.ensure_future(_fold_ranges_elsewhere(task, ranges[1:]))
            try:  # this process folds the first range meanwhile
                low, high = ranges[0]
                count = await _fold_range(reader, writer, chosen, xmin, low, high, upcast_keys, fetch_size, progress)
            finally:
                counts = await remote  # the snapshot must outlive their import of it
            return position, count + sum(counts)


def _jsonb_binary(value: Any) -> bytes:
    """jsonb's binary input: format version 1, then the JSON text (what the pool's text codec sends as text)."""
    if type(value) is JsonText:
        return b"\x01" + value
    return b"\x01" + json.dumps(value).encode()


async def _set_copy_codecs(conn: asyncpg.Connection) -> None:
    """jsonb as Python values in binary format, which COPY (binary) needs; `apply` passes the same values. And no
    waiting for each COPY's commit to be flushed: a shadow table is thrown away if the rebuild dies, and the
    switch's own (synchronous) commit flushes everything written before it."""
    await conn.set_type_codec("jsonb", encoder=_jsonb_binary, decoder=lambda data: json.loads(data[1:]),
                              schema="pg_catalog", format="binary")
    await conn.execute("SET synchronous_commit = off")


@contextlib.asynccontextmanager
async def _copy_codecs(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A pool connection with the COPY codecs for a while, given back with the pool's own."""
    await _set_copy_codecs(conn)
    try:
        yield
    finally:
        await _init_connection(conn)
        await conn.execute("RESET synchronous_commit")


async def _fold_ranges_elsewhere(task: dict[str, Any], ranges: list[Range]) -> list[int]:
    """Fold each range in a process of its own (the task, with the database URL, travels on stdin, see
    `run_range_workers`); returns the number of events each folded."""
    answers = await run_range_workers("projections.rebuild:_range_worker", task, ranges, "rebuild")
    return [answer["events"] for answer in answers]


def _range_worker() -> None:
    """A rebuild worker process: fold the range named on stdin, print {"events": n}."""
    task = json.loads(sys.stdin.read())
    count = asyncio.run(_fold_range_remote(task["dsn"], task["snapshot"], task["xmin"], task["low"], task["high"],
                                           task["names"], task["upcast_keys"], task["fetch_size"]))
    json.dump({"events": count}, sys.stdout)


async def _fold_range_remote(dsn: str, snapshot: str, xmin: int, low: str | None, high: str | None,
                             names: list[str], upcast_keys: list[str], fetch_size: int) -> int:
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    chosen = [p for p in default_projections() if p.name in names]
    reader = await asyncpg.connect(to_asyncpg_dsn(dsn))
    writer = await asyncpg.connect(to_asyncpg_dsn(dsn))
    try:
        await _set_copy_codecs(writer)
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            await reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            return await _fold_range(reader, writer, chosen, xmin, low, high, upcast_keys, fetch_size, None)
    finally:
        await reader.close()
        await writer.close()


async def _fold_range(reader: asyncpg.Connection, writer: asyncpg.Connection, chosen: Sequence[Any], xmin: int,
                      low: str | None, high: str | None, upcast_keys: list[str], fetch_size: int,
                      progress: Progress | None) -> int:
    """Fold the streams in [low, high) (None: unbounded) read in `reader`'s snapshot; COPY their rows through
    `writer` (its own transactions: the shadow tables are nobody else's). Returns the number of events read."""
    conditions, args = [], [xmin, upcast_keys]
    if low is not None:
        args.append(low)
        conditions.append(f"AND stream_id >= ${len(args)}")
    if high is not None:
        args.append(high)
        conditions.append(f"AND stream_id < ${len(args)}")
    await reader.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    cursor = await reader.cursor(_STREAMS.format(range=" ".join(conditions)), *args)
    rows_out = _ShadowRows(writer, chosen)
    upcast_types = {event_type for event_type, _ in upcasters.registered()}
    # What `model_validate_json` calls, without its wrapper (a fifth of the decoding time).
    validators = {name: cls.__pydantic_validator__.validate_json for name, cls in EVENT_TYPES.items()}
    stream_id: str | None = None
    stream: list[StreamEvent] = []
    count = 0
    try:
        async for rows in _prefetched(cursor, fetch_size):
            for sid, version, event_type, schema_version, data, metadata, occurred_at in rows:
                if sid != stream_id:
                    if stream:
                        rows_out.add(stream_id, stream)
                    stream_id, stream = sid, []
                if version != len(stream) + 1:
                    raise ProjectionError(f"stream {sid}: version {version} follows version {len(stream)}; "
                                          "the log must be gap-free")
                if event_type in upcast_types and upcasters.needs_upcast(event_type, schema_version):
                    event = decode_event(event_type, schema_version, data, metadata)
                else:
                    event = validators[event_type](data)
                stream.append(StreamEvent(event, event_type, version, occurred_at))
            count += len(rows)
            if rows_out.topics >= COPY_TOPICS:
                await rows_out.flush()
                if progress is not None:
                    progress("build", count)
        if stream:
            rows_out.add(stream_id, stream)
        await rows_out.flush()
        await rows_out.wait()
    finally:
        await rows_out.cancel()
    if progress is not None:
        progress("build", count)
    return count


class _ShadowRows:
    """Rows of folded topics, written to the shadow tables by COPY in the background (one COPY round in flight
    while the next topics are folded)."""

    def __init__(self, writer: asyncpg.Connection, chosen: Sequence[Any]) -> None:
        self._writer = writer
        self._chosen = chosen
        self._columns = {table: columns for p in chosen for table, columns in p.copy_columns.items()}
        self._rows: dict[str, list[tuple]] = {table: [] for table in self._columns}
        self._pending: asyncio.Future | None = None
        self.topics = 0

    def add(self, stream_id: str | None, stream: list[StreamEvent]) -> None:
        if stream_id is None or not stream_id.startswith(TOPIC_STREAM_PREFIX):
            return
        topic_id = stream_id[len(TOPIC_STREAM_PREFIX):]
        for projection in self._chosen:
            for table, rows in projection.fold_rows(topic_id, stream).items():
                self._rows[table].extend(rows)
        self.topics += 1

    async def flush(self) -> None:
        await self.wait()
        batch, self._rows = self._rows, {table: [] for table in self._columns}
        self.topics = 0
        if any(batch.values()):
            self._pending = asyncio.ensure_future(self._copy(batch))

    async def _copy(self, batch: dict[str, list[tuple]]) -> None:
        for table, rows in batch.items():
            if rows:
                await self._writer.copy_records_to_table(table, records=rows, columns=list(self._columns[table]),
                                                         schema_name=SHADOW_SCHEMA)

    async def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    async def cancel(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            with contextlib.suppress(BaseException):
                await self._pending


async def _prefetched(cursor: Any, fetch_size: int) -> AsyncIterator[list]:
    """The cursor's batches with one FETCH always ahead: the server reads the next batch while this one is folded."""
    pending = asyncio.ensure_future(cursor.fetch(fetch_size))
    try:
        while rows := await pending:
            pending = asyncio.ensure_future(cursor.fetch(fetch_size))
            await asyncio.sleep(0)  # let it send the FETCH before the CPU-bound fold
            yield rows
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


# --- the switch ----------------------------------------------------------------------------------------------------


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


async def raw_read_batches(conn: asyncpg.Connection, batch_size: int) -> AsyncIterator[list]:
    """The rows the stream-by-stream build reads, in its order and batches, but with every row's metadata and no
    decoding (data and metadata as JSON text): what the benchmark's raw-read limit times."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        xmin = await conn.fetchval(_XMIN)
        await conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        query = _STREAMS.format(range="").replace(
            "CASE WHEN event_type || '/' || schema_version = ANY($2::text[]) THEN metadata::text END",
            "metadata::text AS metadata")
        cursor = await conn.cursor(query, xmin)
        async for rows in _prefetched(cursor, batch_size):
            yield rows
