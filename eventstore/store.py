"""``EventStore``: optimistic, idempotent, hash-chained appends and gap-free reads over asyncpg."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from json.encoder import c_encode_basestring, c_make_encoder
from typing import Any

import asyncpg

from eventstore.errors import EventStoreError, StreamConflict
from eventstore.events import AppendResult, NewEvent, RecordedEvent
from eventstore.hashing import canonical_bytes_from_json, canonical_json, format_occurred_at
from eventstore.position import Lag, Position
from eventstore.upcasting import UpcasterRegistry, upcasters

NOTIFY_CHANNEL = "lingti_events"

log = logging.getLogger(__name__)

_COLUMNS = (
    "global_position, event_id, stream_id, stream_version, event_type, schema_version,"
    " data, metadata, occurred_at, recorded_at, tx_id, prev_hash, hash"
)

# One statement, one round trip. The WHERE clause re-checks the previous event's hash ($11; NULL for an
# empty stream), so a stale cached hash can never break the chain: the statement then inserts nothing.
# {quiet} is empty, or (for the store's own autocommit appends) a `set_config` that tells the events_notify
# trigger not to NOTIFY: the store notifies after the commit instead (see `EventStore._notify_soon`).
_INSERT_TEMPLATE = """
INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                    data, metadata, occurred_at, prev_hash, hash)
SELECT $1, $2 + u.ord, u.event_id, u.event_type, u.schema_version,
       u.data::jsonb, u.metadata::jsonb, u.occurred_at, u.prev_hash, u.hash
FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[], $8::timestamptz[],
            $9::bytea[], $10::bytea[])
     WITH ORDINALITY AS u(event_id, event_type, schema_version, data, metadata, occurred_at,
                          prev_hash, hash, ord)
WHERE {quiet}$11::bytea IS NOT DISTINCT FROM
      (SELECT e.hash FROM events e WHERE e.stream_id = $1 AND e.stream_version = $2)
ORDER BY u.ord
RETURNING stream_version, global_position
"""

# The same for one event (the common case: one command, one event), without the arrays.
_INSERT_ONE_TEMPLATE = """
INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                    data, metadata, occurred_at, prev_hash, hash)
SELECT $1, $2 + 1, $3, $4, $5, $6::text::jsonb, $7::text::jsonb, $8, $9, $10
WHERE {quiet}$9::bytea IS NOT DISTINCT FROM
      (SELECT e.hash FROM events e WHERE e.stream_id = $1 AND e.stream_version = $2)
RETURNING stream_version, global_position
"""

# A NOTIFY inside the appending transaction takes a cluster-wide lock that PostgreSQL holds until the commit
# is flushed, so concurrent appends would commit one WAL flush after another. Where the events_notify trigger
# honours `lingti.notify = 'client'` (migration 0009), the store's autocommit appends skip it and the store
# sends one NOTIFY after they commit, coalescing concurrent appends. Appends in a caller's transaction keep the
# trigger's transactional NOTIFY.
QUIET_SETTING = "lingti.notify"
_QUIET = f"set_config('{QUIET_SETTING}', 'client', true) IS NOT NULL AND "
_INSERT = _INSERT_TEMPLATE.format(quiet="")
_INSERT_QUIET = _INSERT_TEMPLATE.format(quiet=_QUIET)
_INSERT_ONE = _INSERT_ONE_TEMPLATE.format(quiet="")
_INSERT_ONE_QUIET = _INSERT_ONE_TEMPLATE.format(quiet=_QUIET)
_NOTIFY = f"NOTIFY {NOTIFY_CHANNEL}"
# Under load, at most one NOTIFY per this many seconds (plus its round trip) per store: a busy worker would
# otherwise spend a round trip per append on wake-ups. An idle store notifies at once.
NOTIFY_INTERVAL = 0.01

# Does the events_notify trigger honour the setting (or is it gone)? Then the store notifies after its commits.
_NOTIFIES_AFTER_COMMIT = f"""
SELECT coalesce(bool_and(p.prosrc LIKE '%{QUIET_SETTING}%'), true)
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = 'events'::regclass AND t.tgname = 'events_notify'
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


def _raise_type_error(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# CPython's C encoder with the canonical settings (sorted keys, raw UTF-8, no NaN), built once. The append path
# writes exactly ``hashing.canonical_json``/``canonical_bytes_from_json`` (tests/unit/test_store_encoding.py
# checks it against them), without their per-call overhead: ``canonical_json`` copies every container through
# ``_normalize`` (ABC isinstance checks) for the float rule, which the usual payload does not need.
_c_encode = (
    c_make_encoder(None, _raise_type_error, c_encode_basestring, None, ":", ",", True, False, False)
    if c_make_encoder is not None and c_encode_basestring is not None
    else None
)
_LEAVES = frozenset((str, int, bool, type(None)))
_PLAIN, _FLOATS, _OTHER = 0, 1, 2


def _scan(value: Any, depth: int = 0) -> int:
    """What the float rule does to ``value``: ``_PLAIN``, nothing (it is made of exactly dict with str keys,
    list, tuple, str, int, bool, None and finite non-integral floats); ``_FLOATS``, only replace integral floats
    (``_fix``); ``_OTHER``, anything else (subclasses, non-str keys, NaN, unknown types, deep nesting), which
    ``canonical_json`` normalizes or rejects exactly as before."""
    kind = type(value)
    if kind in _LEAVES:
        return _PLAIN
    if kind is float:
        if not math.isfinite(value):
            return _OTHER
        return _FLOATS if value.is_integer() else _PLAIN
    if depth > 64:
        return _OTHER
    if kind is dict:
        found = _PLAIN
        for key, item in value.items():
            if type(key) is not str:
                return _OTHER
            if type(item) not in _LEAVES:
                found = max(found, _scan(item, depth + 1))
                if found == _OTHER:
                    return _OTHER
        return found
    if kind is list or kind is tuple:
        found = _PLAIN
        for item in value:
            if type(item) not in _LEAVES:
                found = max(found, _scan(item, depth + 1))
                if found == _OTHER:
                    return _OTHER
        return found
    return _OTHER


def _fix(value: Any) -> Any:
    """The float rule on a value ``_scan`` found ``_FLOATS``: integral floats become the integer their shortest
    decimal form denotes (as ``hashing._normalize``); tuples become lists (the encoder writes both alike)."""
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _LEAVES else _fix(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [item if type(item) in _LEAVES else _fix(item) for item in value]
    if kind is float and value.is_integer():
        return int(Decimal(repr(value)))
    return value


def _canonical(value: Any) -> str:
    """``canonical_json(value)``, byte for byte, in a third of the time for the usual event payload."""
    if _c_encode is not None:
        found = _scan(value)
        if found == _PLAIN:
            return "".join(_c_encode(value, 0))
        if found == _FLOATS:
            return "".join(_c_encode(_fix(value), 0))
    return canonical_json(value)


def _chain(
    stream_id: str, first_version: int, events: Sequence[NewEvent], data: list[str], metadata: list[str],
    prev: bytes | None,
) -> tuple[list[bytes | None], list[bytes]]:
    """Previous hashes and hashes of a batch: SHA-256 of ``hashing.canonical_bytes_from_json``'s bytes, with the
    parts the batch shares (stream id, an occurred_at common to its events) encoded once."""
    if c_encode_basestring is None:
        return _chain_slow(stream_id, first_version, events, data, metadata, prev)
    stream_json = c_encode_basestring(stream_id)
    moments: dict[datetime, str] = {}
    prev_hashes: list[bytes | None] = []
    hashes: list[bytes] = []
    sha256 = hashlib.sha256
    for i, e in enumerate(events):
        occurred = moments.get(e.occurred_at)
        if occurred is None:
            occurred = moments[e.occurred_at] = format_occurred_at(e.occurred_at)
        digest = sha256("".join((
            '{"data":', data[i],
            ',"event_type":', c_encode_basestring(e.event_type),
            ',"metadata":', metadata[i],
            ',"occurred_at":"', occurred,
            '","prev_hash":', "null" if prev is None else f'"{prev.hex()}"',
            ',"schema_version":', str(int(e.schema_version)),
            ',"stream_id":', stream_json,
            ',"stream_version":', str(first_version + i),
            "}",
        )).encode("utf-8")).digest()
        prev_hashes.append(prev)
        hashes.append(digest)
        prev = digest
    return prev_hashes, hashes


def _chain_slow(
    stream_id: str, first_version: int, events: Sequence[NewEvent], data: list[str], metadata: list[str],
    prev: bytes | None,
) -> tuple[list[bytes | None], list[bytes]]:
    prev_hashes: list[bytes | None] = []
    hashes: list[bytes] = []
    for i, e in enumerate(events):
        digest = hashlib.sha256(canonical_bytes_from_json(
            stream_id=stream_id, stream_version=first_version + i, event_type=e.event_type,
            schema_version=e.schema_version, data_json=data[i], metadata_json=metadata[i],
            occurred_at=e.occurred_at, prev_hash=prev,
        )).digest()
        prev_hashes.append(prev)
        hashes.append(digest)
        prev = digest
    return prev_hashes, hashes


class _Batch:
    """Column arrays and hash chain of the events of one append."""

    __slots__ = ("event_ids", "types", "schema_versions", "data", "metadata", "occurred", "prev_hashes", "hashes")

    def __init__(self, stream_id: str, expected_version: int, events: Sequence[NewEvent], prev: bytes | None):
        self.event_ids = [e.event_id for e in events]
        self.types = [e.event_type for e in events]
        self.schema_versions = [e.schema_version for e in events]
        self.data = [_canonical(e.data) for e in events]
        self.metadata = [_canonical(e.metadata) for e in events]
        self.occurred = [e.occurred_at for e in events]
        self.prev_hashes, self.hashes = _chain(
            stream_id, expected_version + 1, events, self.data, self.metadata, prev
        )

    def args(self, stream_id: str, expected_version: int, quiet: bool) -> tuple[str, tuple]:
        """The INSERT statement and its arguments."""
        if len(self.hashes) == 1:
            return _INSERT_ONE_QUIET if quiet else _INSERT_ONE, (
                stream_id,
                expected_version,
                self.event_ids[0],
                self.types[0],
                self.schema_versions[0],
                self.data[0],
                self.metadata[0],
                self.occurred[0],
                self.prev_hashes[0],
                self.hashes[0],
            )
        return _INSERT_QUIET if quiet else _INSERT, (
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


def _session_unchanged(conn: asyncpg.Connection) -> None:
    """Tell a ``create_pool`` pool that the store ran only plain statements: skip the reset round trip."""
    mark = getattr(conn, "session_unchanged", None)
    if mark is not None:
        mark()


class EventStore:
    """The append-only log; streams are opaque ids, events opaque JSON. Needs a pool from ``create_pool``."""

    def __init__(self, pool: asyncpg.Pool, *, head_cache_size: int = 10_000,
                 upcasters: UpcasterRegistry | None = None) -> None:
        self._pool = pool
        self._upcasters = upcasters if upcasters is not None else _DEFAULT_UPCASTERS
        # stream_id -> (version, hash) of a committed, hence immutable, event: saves the previous-hash read.
        self._heads: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._head_cache_size = head_cache_size
        # Whether the events_notify trigger leaves NOTIFY to the store's own appends (None: not asked yet).
        self._client_notify: bool | None = None
        self._notifier: asyncio.Task[None] | None = None
        self._notify_again = False

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
            return await self._append(connection, stream_id, expected_version, events, use_cache=False,
                                      quiet=False)
        async with self._pool.acquire() as conn:
            if self._client_notify is None:
                self._client_notify = await conn.fetchval(_NOTIFIES_AFTER_COMMIT)
            quiet = self._client_notify
            result = await self._append(conn, stream_id, expected_version, events, use_cache=True, quiet=quiet)
            _session_unchanged(conn)  # autocommit statements only, all finished
        if quiet:
            self._notify_soon()
        return result

    def _notify_soon(self) -> None:
        """NOTIFY listeners of a committed append: at once if the notifier is idle, else once more after its
        current NOTIFY and a pause of ``NOTIFY_INTERVAL``, for all appends that committed meanwhile."""
        task, loop = self._notifier, asyncio.get_running_loop()
        if task is not None and not task.done() and task.get_loop() is loop:
            self._notify_again = True
            return
        self._notify_again = False
        self._notifier = loop.create_task(self._notify(), name="eventstore-notify")

    async def _notify(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute(_NOTIFY)
                    _session_unchanged(conn)
            except Exception as error:  # noqa: BLE001 - nobody awaits this task
                # Listeners poll as well (projections/wakeup.py): a lost wake-up only delays them.
                log.debug("NOTIFY %s failed: %s", NOTIFY_CHANNEL, error)
                return
            await asyncio.sleep(NOTIFY_INTERVAL)
            if not self._notify_again:
                return
            self._notify_again = False

    async def flush_notifications(self) -> None:
        """Wait until the NOTIFY for every append so far has been sent (for an orderly shutdown and tests)."""
        while (task := self._notifier) is not None and not task.done():
            await asyncio.shield(task)

    async def _append(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        use_cache: bool,
        quiet: bool,
    ) -> AppendResult:
        if expected_version > 0 and use_cache:
            head = self._heads.get(stream_id)
            if head is not None and head[0] == expected_version:
                result = await self._insert(conn, stream_id, expected_version, events, head[1], use_cache, quiet)
                if result is not None:
                    return result
                self._heads.pop(stream_id, None)  # stale entry (e.g. the database was restored): read for real
        prev = await self._previous_hash(conn, stream_id, expected_version) if expected_version > 0 else None
        result = await self._insert(conn, stream_id, expected_version, events, prev, use_cache, quiet)
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
        quiet: bool,
    ) -> AppendResult | None:
        """One INSERT statement; None if the stored previous hash is not ``prev``."""
        batch = _Batch(stream_id, expected_version, events, prev)
        statement, args = batch.args(stream_id, expected_version, quiet)
        try:
            if conn.is_in_transaction():  # a savepoint keeps the caller's transaction usable on conflict
                async with conn.transaction():
                    rows = await conn.fetch(statement, *args)
            else:  # autocommit: the statement is its own transaction
                rows = await conn.fetch(statement, *args)
        except asyncpg.UniqueViolationError:
            return await self._existing_result(conn, stream_id, expected_version, batch)
        if not rows:
            return None
        if len(rows) > 1:
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

    async def _query(self, method: str, query: str, *args: Any) -> Any:
        """One read on a pooled connection, released without the reset round trip (it changed nothing)."""
        async with self._pool.acquire() as conn:
            result = await getattr(conn, method)(query, *args)
            _session_unchanged(conn)
            return result

    @staticmethod
    async def _version(conn: asyncpg.Connection, stream_id: str) -> int:
        return await conn.fetchval(_STREAM_VERSION, stream_id)

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 if it has no events."""
        return await self._query("fetchval", _STREAM_VERSION, stream_id)

    async def read_stream(self, stream_id: str, from_version: int = 1, *, raw: bool = False) -> list[RecordedEvent]:
        """The stream's events from ``from_version`` on, in version order, upcast to their newest shape.

        ``raw=True`` returns the rows exactly as stored: use it to verify hashes (see ``eventstore.upcasting``).
        """
        rows = await self._query("fetch", _READ_STREAM, stream_id, from_version)
        events = [RecordedEvent(*row) for row in rows]
        return events if raw else self._upcasters.upcast_all(events)

    async def read_all(self, after: Position, limit: int, *, raw: bool = False) -> list[RecordedEvent]:
        """Up to ``limit`` committed events after ``after`` in gap-free global order, upcast (unless ``raw``).

        Resume from the last returned event's ``position``. Events of transactions that may still commit
        below that point are held back, so nothing is ever skipped or returned twice.
        """
        rows = await self._query("fetch", _READ_ALL, after.tx_id, after.global_position, limit)
        events = [RecordedEvent(*row) for row in rows]
        return events if raw else self._upcasters.upcast_all(events)

    async def head_lag(self, after: Position) -> Lag:
        """Committed events after ``after`` (readable or still held back) and the oldest one's record time."""
        count, oldest = await self._query("fetchrow", _LAG, after.tx_id, after.global_position)
        return Lag(count, oldest)
