"""``EventStore``: optimistic, idempotent, hash-chained appends and gap-free reads over asyncpg."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import asyncpg

from eventstore.errors import EventStoreError, StreamConflict
from eventstore.events import AppendResult, NewEvent, RecordedEvent
from eventstore.hashing import canonical_bytes_from_json, canonical_json
from eventstore.position import Lag, Position
from eventstore.upcasting import UpcasterRegistry, upcasters

NOTIFY_CHANNEL = "lingti_events"

_COLUMNS = (
    "global_position, event_id, stream_id, stream_version, event_type, schema_version,"
    " data, metadata, occurred_at, recorded_at, tx_id, prev_hash, hash"
)

# One statement, one round trip. The WHERE clause re-checks the previous event's hash ($11; NULL for an
# empty stream), so a stale cached hash can never break the chain: the statement then inserts nothing.
_INSERT = """
INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                    data, metadata, occurred_at, prev_hash, hash)
SELECT $1, $2 + u.ord, u.event_id, u.event_type, u.schema_version,
       u.data::jsonb, u.metadata::jsonb, u.occurred_at, u.prev_hash, u.hash
FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[], $8::timestamptz[],
            $9::bytea[], $10::bytea[])
     WITH ORDINALITY AS u(event_id, event_type, schema_version, data, metadata, occurred_at,
                          prev_hash, hash, ord)
WHERE $11::bytea IS NOT DISTINCT FROM
      (SELECT e.hash FROM events e WHERE e.stream_id = $1 AND e.stream_version = $2)
ORDER BY u.ord
RETURNING stream_version, global_position
"""

_PREVIOUS = """
SELECT hash, tx_id, pg_current_xact_id_if_assigned() AS own_tx_id
FROM events WHERE stream_id = $1 AND stream_version = $2
"""

_BY_EVENT_IDS = """
SELECT event_id, stream_id, stream_version, hash, global_position
FROM events WHERE event_id = ANY($1::uuid[])
"""

_STREAM_VERSION = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"

_READ_STREAM = f"""
SELECT {_COLUMNS} FROM events
WHERE stream_id = $1 AND stream_version >= $2
ORDER BY stream_version
"""

# Rows of transactions below the snapshot's xmin are final: none can still appear below them.
_READ_ALL = f"""
SELECT {_COLUMNS} FROM events
WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id, global_position
LIMIT $3
"""

_DEFAULT_UPCASTERS = upcasters

_LAG = """
SELECT count(*), min(recorded_at) FROM events
WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
"""


class _Batch:
    """Column arrays and hash chain of the events of one append."""

    __slots__ = ("event_ids", "types", "schema_versions", "data", "metadata", "occurred", "prev_hashes", "hashes")

    def __init__(self, stream_id: str, expected_version: int, events: Sequence[NewEvent], prev: bytes | None):
        self.event_ids = [e.event_id for e in events]
        self.types = [e.event_type for e in events]
        self.schema_versions = [e.schema_version for e in events]
        self.data = [canonical_json(e.data) for e in events]
        self.metadata = [canonical_json(e.metadata) for e in events]
        self.occurred = [e.occurred_at for e in events]
        self.prev_hashes: list[bytes | None] = []
        self.hashes: list[bytes] = []
        for i, e in enumerate(events):
            digest = hashlib.sha256(
                canonical_bytes_from_json(
                    stream_id=stream_id,
                    stream_version=expected_version + 1 + i,
                    event_type=e.event_type,
                    schema_version=e.schema_version,
                    data_json=self.data[i],
                    metadata_json=self.metadata[i],
                    occurred_at=e.occurred_at,
                    prev_hash=prev,
                )
            ).digest()
            self.prev_hashes.append(prev)
            self.hashes.append(digest)
            prev = digest

    def args(self, stream_id: str, expected_version: int) -> tuple:
        return (
            stream_id,
            expected_version,
            self.event_ids,
            self.types,
            self.schema_versions,
            self.data,
            self.metadata,
            self.occurred,
            self.prev_hashes,
            self.hashes,
            self.prev_hashes[0],
        )


class EventStore:
    """The append-only log; streams are opaque ids, events opaque JSON. Needs a pool from ``create_pool``."""

    def __init__(self, pool: asyncpg.Pool, *, head_cache_size: int = 10_000,
                 upcasters: UpcasterRegistry | None = None) -> None:
        self._pool = pool
        self._upcasters = upcasters if upcasters is not None else _DEFAULT_UPCASTERS
        # stream_id -> (version, hash) of a committed, hence immutable, event: saves the previous-hash read.
        self._heads: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._head_cache_size = head_cache_size

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        connection: asyncpg.Connection | None = None,
    ) -> AppendResult:
        """Append ``events`` as versions ``expected_version + 1 …`` atomically.

        Re-appending the same events at the same place is a no-op returning the original result. Raises
        ``StreamConflict`` if the stream is elsewhere. With ``connection``, the append joins the caller's
        (READ COMMITTED) transaction and becomes visible when the caller commits.
        """
        if expected_version < 0:
            raise ValueError(f"expected_version must be >= 0, got {expected_version}")
        if not events:
            raise ValueError("append needs at least one event")
        if connection is not None:
            return await self._append(connection, stream_id, expected_version, events, use_cache=False)
        async with self._pool.acquire() as conn:
            return await self._append(conn, stream_id, expected_version, events, use_cache=True)

    async def _append(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        use_cache: bool,
    ) -> AppendResult:
        if expected_version > 0 and use_cache:
            head = self._heads.get(stream_id)
            if head is not None and head[0] == expected_version:
                result = await self._insert(conn, stream_id, expected_version, events, head[1], use_cache)
                if result is not None:
                    return result
                self._heads.pop(stream_id, None)  # stale entry (e.g. the database was restored): read for real
        prev = await self._previous_hash(conn, stream_id, expected_version) if expected_version > 0 else None
        result = await self._insert(conn, stream_id, expected_version, events, prev, use_cache)
        if result is None:  # only if the previous event vanished, which the append-only trigger forbids
            raise StreamConflict(stream_id, expected_version, await self._version(conn, stream_id))
        return result

    async def _insert(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        prev: bytes | None,
        use_cache: bool,
    ) -> AppendResult | None:
        """One INSERT statement; None if the stored previous hash is not ``prev``."""
        batch = _Batch(stream_id, expected_version, events, prev)
        args = batch.args(stream_id, expected_version)
        try:
            if conn.is_in_transaction():  # a savepoint keeps the caller's transaction usable on conflict
                async with conn.transaction():
                    rows = await conn.fetch(_INSERT, *args)
            else:  # autocommit: the statement is its own transaction
                rows = await conn.fetch(_INSERT, *args)
        except asyncpg.UniqueViolationError:
            return await self._existing_result(conn, stream_id, expected_version, batch)
        if not rows:
            return None
        rows.sort(key=lambda r: r[0])
        new_version = expected_version + len(events)
        if use_cache:
            self._remember(stream_id, new_version, batch.hashes[-1])
        return AppendResult(new_version, [r[1] for r in rows])

    async def _previous_hash(self, conn: asyncpg.Connection, stream_id: str, expected_version: int) -> bytes:
        row = await conn.fetchrow(_PREVIOUS, stream_id, expected_version)
        if row is None:
            raise StreamConflict(stream_id, expected_version, await self._version(conn, stream_id))
        if row["own_tx_id"] is not None and row["own_tx_id"] < row["tx_id"]:
            raise EventStoreError(
                f"stream {stream_id!r}: the caller's transaction started before version {expected_version}"
                " was committed; appending in it would break the global order. Use a fresh transaction."
            )
        return row["hash"]

    async def _existing_result(
        self, conn: asyncpg.Connection, stream_id: str, expected_version: int, batch: _Batch
    ) -> AppendResult:
        """After a unique violation: the original result if these very events are already recorded here."""
        rows = {r["event_id"]: r for r in await conn.fetch(_BY_EVENT_IDS, batch.event_ids)}
        detail = ""
        if rows:
            for i, event_id in enumerate(batch.event_ids):
                row = rows.get(event_id)
                version = expected_version + 1 + i
                if row is None:
                    detail = f"event {event_id} is new but others of the batch are already recorded"
                    break
                if row["stream_id"] != stream_id or row["stream_version"] != version:
                    detail = (
                        f"event {event_id} is already recorded as {row['stream_id']!r}"
                        f" version {row['stream_version']}, not version {version}"
                    )
                    break
                if row["hash"] != batch.hashes[i]:
                    detail = f"version {version} (event {event_id}) is already recorded with different content"
                    break
            else:
                positions = [rows[event_id]["global_position"] for event_id in batch.event_ids]
                return AppendResult(expected_version + len(batch.event_ids), positions)
        raise StreamConflict(stream_id, expected_version, await self._version(conn, stream_id), detail)

    def _remember(self, stream_id: str, version: int, digest: bytes) -> None:
        self._heads[stream_id] = (version, digest)
        self._heads.move_to_end(stream_id)
        if len(self._heads) > self._head_cache_size:
            self._heads.popitem(last=False)

    @staticmethod
    async def _version(conn: asyncpg.Connection, stream_id: str) -> int:
        return await conn.fetchval(_STREAM_VERSION, stream_id)

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 if it has no events."""
        return await self._pool.fetchval(_STREAM_VERSION, stream_id)

    async def read_stream(self, stream_id: str, from_version: int = 1, *, raw: bool = False) -> list[RecordedEvent]:
        """The stream's events from ``from_version`` on, in version order, upcast to their newest shape.

        ``raw=True`` returns the rows exactly as stored: use it to verify hashes (see ``eventstore.upcasting``).
        """
        rows = await self._pool.fetch(_READ_STREAM, stream_id, from_version)
        events = [RecordedEvent(*row) for row in rows]
        return events if raw else self._upcasters.upcast_all(events)

    async def read_all(self, after: Position, limit: int, *, raw: bool = False) -> list[RecordedEvent]:
        """Up to ``limit`` committed events after ``after`` in gap-free global order, upcast (unless ``raw``).

        Resume from the last returned event's ``position``. Events of transactions that may still commit
        below that point are held back, so nothing is ever skipped or returned twice.
        """
        rows = await self._pool.fetch(_READ_ALL, after.tx_id, after.global_position, limit)
        events = [RecordedEvent(*row) for row in rows]
        return events if raw else self._upcasters.upcast_all(events)

    async def head_lag(self, after: Position) -> Lag:
        """Committed events after ``after`` (readable or still held back) and the oldest one's record time."""
        count, oldest = await self._pool.fetchrow(_LAG, after.tx_id, after.global_position)
        return Lag(count, oldest)
