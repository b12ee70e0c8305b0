"""The audit of the log: recompute every hash chain from the raw rows, and record and check daily anchors.

``verify_log`` reads the ``events`` table itself (never through an upcasting or decoding layer), one stream
after the other in ``(stream_id, stream_version)`` order through a server-side cursor, inside one
REPEATABLE READ, READ ONLY transaction, so it checks one consistent snapshot in constant memory. Per stream it
checks that versions run 1, 2, 3… without a gap, that each ``prev_hash`` is the previous event's ``hash``
(NULL for version 1) and that each ``hash`` is the SHA-256 of the event's canonical encoding
(``eventstore/hashing.py``). A break ends the check of that stream (nothing after it can be trusted) and the
audit goes on with the next one.

An **anchor** (table ``audit_anchors``, one row per day, insert-only) records the head of every stream::

    heads        = {stream_id: [version, hash_hex], …}     every stream's last version and its hash (64 hex)
    heads_digest = SHA-256(canonical_json(heads))          the same canonical JSON as event data
    streams      = number of keys, events = sum of versions

``canonical_json`` sorts keys by code point and writes no whitespace, e.g.
``{"topic-T-1":[12,"9f…"],"topic-T-2":[3,"01…"]}``. ``verify_log`` re-derives each anchor's digest and
counts from its heads, then checks that every anchored stream still exists with at least the anchored version
and that the hash at that version is the anchored one: a stream deleted as a whole, or history rewritten and
re-hashed, no longer matches an anchor taken before. Entries unchanged since the previous anchor are checked
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from eventstore.connection import to_asyncpg_dsn
from eventstore.hashing import canonical_json, canonical_json_from_text
from eventstore.ranges import Range, run_range_workers, stream_bounds

FETCH_SIZE = 1000  # rows per FETCH: about 400 kB, fetched while the previous batch is hashed
MAX_BREAKS = 100
PARALLEL_FROM_EVENTS = 50_000  # suggested_workers: below this, starting a process costs more than it saves
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9]+)?")

# Raw columns, with data and metadata as jsonb's text output (no jsonb codec, no upcasting) and occurred_at
# already in the canonical form (what hashing.format_occurred_at writes; NULL outside the years 1 to 9999,
# which it cannot write and where to_char's YYYY would not tell 1 BC from AD 1).
_RAW_COLUMNS = """
stream_id, stream_version, event_type, schema_version, data::text, metadata::text,
CASE WHEN occurred_at >= '0001-01-01 00:00:00+00' AND occurred_at < '10000-01-01 00:00:00+00'
     THEN to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END,
prev_hash, hash
"""
_STREAM_EVENTS = (
    f"SELECT {_RAW_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version <= $2 ORDER BY stream_version"
)

_HEADS = """
SELECT DISTINCT ON (stream_id) stream_id, stream_version, hash
FROM events ORDER BY stream_id, stream_version DESC
"""
_ANCHOR_EXISTS = "SELECT EXISTS (SELECT FROM audit_anchors WHERE anchor_date = $1)"
_INSERT_ANCHOR = """
INSERT INTO audit_anchors (anchor_date, streams, events, heads_digest, heads)
VALUES ($1, $2, $3, $4, $5::text::jsonb)
ON CONFLICT (anchor_date) DO NOTHING
RETURNING anchor_date
"""
_ALL_ANCHORS = "SELECT anchor_date, streams, events, heads_digest, heads::text FROM audit_anchors ORDER BY anchor_date"
_STREAM_ANCHORS = """
SELECT anchor_date, (heads -> $1)::text FROM audit_anchors WHERE heads ? $1 ORDER BY anchor_date
"""
_LIST_ANCHORS = """
SELECT anchor_date, created_at, streams, events, heads_digest FROM audit_anchors ORDER BY anchor_date
"""
# Anchored (stream, version, hash) entries the log no longer bears out, with the stream's current head.
_ANCHOR_MISMATCHES = """
SELECT a.stream_id, a.version, e.hash AS actual,
       (SELECT max(x.stream_version) FROM events x WHERE x.stream_id = a.stream_id) AS head
FROM unnest($1::text[], $2::int[], $3::bytea[]) AS a(stream_id, version, hash)
LEFT JOIN events e ON e.stream_id = a.stream_id AND e.stream_version = a.version
WHERE e.hash IS DISTINCT FROM a.hash
ORDER BY a.stream_id
"""

_encode_string = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class Break:
    """One place where the log and its hashes or anchors disagree."""

    stream_id: str | None
    version: int | None
    reason: str
    anchor_date: dt.date | None = None

    def __str__(self) -> str:
        where = []
        if self.anchor_date is not None:
            where.append(f"anchor {self.anchor_date.isoformat()}")
        if self.stream_id is not None:
            where.append(f"stream {self.stream_id}")
        if self.version is not None:
            where.append(f"version {self.version}")
        return f"{', '.join(where)}: {self.reason}"


@dataclass(slots=True)
class VerifyReport:
    """What ``verify_log`` checked and every break it found (the first ``MAX_BREAKS`` of them)."""

    stream_id: str | None = None  # the one stream checked, or None for the whole log
    streams: int = 0
    events: int = 0
    anchors: int = 0
    seconds: float = 0.0
    breaks: list[Break] = field(default_factory=list)
    breaks_total: int = 0

    @property
    def ok(self) -> bool:
        return self.breaks_total == 0

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        scope = f"stream {self.stream_id}" if self.stream_id is not None else "log"
        counts = (
            f"{self.streams} streams, {self.events} events, {self.anchors} anchors in {self.seconds:.2f} s"
        )
        if self.ok:
            return f"{scope} intact: {counts}"
        breaks = f"{self.breaks_total} break{'' if self.breaks_total == 1 else 's'}"
        return f"{scope} BROKEN: {breaks} in {counts}; first: {self.first_break}"


@dataclass(frozen=True, slots=True)
class Anchor:
    anchor_date: dt.date
    created_at: dt.datetime
    streams: int
    events: int
    heads_digest: bytes


class _Breaks:
    def __init__(self, report: VerifyReport, limit: int) -> None:
        self._report = report
        self._limit = limit

    def add(self, item: Break) -> None:
        self._report.breaks_total += 1
        if len(self._report.breaks) < self._limit:
            self._report.breaks.append(item)


class _ChainChecker:
    """Checks rows in (stream_id, stream_version) order, fed in batches; keeps only the current stream."""

    __slots__ = ("_breaks", "_types", "stream", "expected", "last", "skip", "streams", "events")

    def __init__(self, breaks: _Breaks) -> None:
        self._breaks = breaks
        self._types: dict[str, str] = {}
        self.stream: str | None = None
        self.expected = 1
        self.last: bytes | None = None
        self.skip = False
        self.streams = 0
        self.events = 0

    def feed(self, rows: Sequence[asyncpg.Record]) -> None:
        stream, expected, last, skip = self.stream, self.expected, self.last, self.skip
        encoded_stream = _encode_string(stream) if stream is not None else ""
        prev_text = "null" if last is None else f'"{last.hex()}"'
        types = self._types
        from_text = canonical_json_from_text
        sha256 = hashlib.sha256
        add_break = self._breaks.add
        streams = 0
        for stream_id, version, event_type, schema_version, data, metadata, occurred_at, prev_hash, digest in rows:
            if stream_id != stream:
                stream, expected, last, prev_text, skip = stream_id, 1, None, "null", False
                encoded_stream = _encode_string(stream_id)
                streams += 1
            elif skip:
                continue
            if version != expected:
                skip = True
                if version > expected:
                    missing = f"version {expected} is" if version == expected + 1 else (
                        f"versions {expected} to {version - 1} are")
                    add_break(Break(stream_id, expected, f"{missing} missing (the next one is {version})"))
                else:
                    add_break(Break(stream_id, version, f"version {version} appears again after {expected - 1}"))
                continue
            if prev_hash != last:
                skip = True
                add_break(Break(stream_id, version, "prev_hash should be null for version 1" if last is None
                                else f"prev_hash is not the hash of version {version - 1}"))
                continue
            encoded_type = types.get(event_type)
            if encoded_type is None:
                encoded_type = types[event_type] = _encode_string(event_type)
            try:
                if occurred_at is None:
                    raise ValueError("occurred_at is outside the years 1 to 9999")
                canonical = (
                    f'{{"data":{from_text(data)},"event_type":{encoded_type},"metadata":{from_text(metadata)},'
                    f'"occurred_at":"{occurred_at}","prev_hash":{prev_text},'
                    f'"schema_version":{schema_version},"stream_id":{encoded_stream},"stream_version":{version}}}'
                ).encode()
            except (ValueError, TypeError) as error:  # UnicodeEncodeError is a ValueError
                skip = True
                add_break(Break(stream_id, version, f"the event has no canonical encoding: {error}"))
                continue
            if sha256(canonical).digest() != digest:
                skip = True
                add_break(Break(stream_id, version, "hash does not match the event's content"))
                continue
            last = digest
            prev_text = f'"{digest.hex()}"'
            expected += 1
        self.stream, self.expected, self.last, self.skip = stream, expected, last, skip
        self.streams += streams
        self.events += len(rows)


async def verify_log(
    pool: asyncpg.Pool | asyncpg.Connection,
    stream_id: str | None = None,
    *,
    workers: int = 1,
    dsn: str | None = None,
    fetch_size: int = FETCH_SIZE,
    max_breaks: int = MAX_BREAKS,
) -> VerifyReport:
    """Recompute every stream's hash chain (or only ``stream_id``'s) from the raw rows and check the anchors.

    With ``stream_id``, only that stream's chain and the anchor entries naming it are checked (the anchors'
    digests need the whole log: they are checked without ``stream_id``).

    ``workers > 1`` (whole log only; needs ``dsn``, the database URL) splits the streams into ranges of
    ``stream_id`` checked by that many processes (this one and ``workers - 1`` others), each importing this
    transaction's snapshot, while this one also checks the anchors. The report is the same as with one worker,
    breaks in the same order. The other processes run ``python -c`` importing only this module (the same
    interpreter, ``sys.executable``).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1 and stream_id is None and dsn is None:
        raise ValueError("verifying with several workers needs the database URL (dsn)")
    started = time.perf_counter()
    report = VerifyReport(stream_id=stream_id)
    breaks = _Breaks(report, max_breaks)
    async with _connection(pool) as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if stream_id is not None:
            checker = _ChainChecker(breaks)
            cursor = await conn.cursor(_STREAM_EVENTS, stream_id, 2**31 - 1)
            await _feed(cursor, checker, fetch_size)
            report.streams, report.events = checker.streams, checker.events
            report.anchors = await _check_stream_anchors(conn, stream_id, breaks)
        elif workers == 1:
            checker = _ChainChecker(breaks)
            await _feed_range(conn, checker, None, None, fetch_size)
            report.streams, report.events = checker.streams, checker.events
            report.anchors = await _check_all_anchors(conn, breaks)
        else:
            assert dsn is not None
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            bounds = await stream_bounds(conn, workers)  # one range each: every range scans the whole table
            ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
            anchor_breaks = VerifyReport()
            # This process checks the first range itself (one process fewer to start) while the others run.
            others = asyncio.ensure_future(_verify_ranges(dsn, snapshot, ranges[1:], fetch_size, max_breaks))
            first = asyncio.ensure_future(_verify_range(dsn, snapshot, *ranges[0], fetch_size, max_breaks))
            try:
                report.anchors = await _check_all_anchors(conn, _Breaks(anchor_breaks, max_breaks))
            finally:
                results = [await first, *await others]  # the snapshot must outlive the workers' import of it
            for streams, events, total, found in results:  # ranges in stream order: breaks stay in order
                report.streams += streams
                report.events += events
                report.breaks_total += total - len(found)
                for item in found:
                    breaks.add(item)
            report.breaks_total += anchor_breaks.breaks_total - len(anchor_breaks.breaks)
            for item in anchor_breaks.breaks:
                breaks.add(item)
    report.seconds = time.perf_counter() - started
    return report


async def suggested_workers(pool: asyncpg.Pool | asyncpg.Connection) -> int:
    """Processes worth starting for ``verify_log``: one for a small log, up to 8 (one per CPU) for a large one."""
    estimate = await pool.fetchval("SELECT reltuples::bigint FROM pg_class WHERE oid = 'events'::regclass")
    if estimate is None or estimate < PARALLEL_FROM_EVENTS:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


async def _feed_range(
    conn: asyncpg.Connection, checker: _ChainChecker, low: str | None, high: str | None, fetch_size: int
) -> None:
    """Feed the events of the streams in [low, high) (None: unbounded) to ``checker``, in order."""
    conditions, args = [], []
    if low is not None:
        args.append(low)
        conditions.append(f"stream_id >= ${len(args)}")
    if high is not None:
        args.append(high)
        conditions.append(f"stream_id < ${len(args)}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # The whole table or a large part: the cheapest total plan (a scan and a sort, about a third of the server's
    # time of an index scan's random reads), not the one with the fastest first rows.
    await conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    cursor = await conn.cursor(f"SELECT {_RAW_COLUMNS} FROM events {where} ORDER BY stream_id, stream_version", *args)
    await _feed(cursor, checker, fetch_size)


async def _feed(cursor: Any, checker: _ChainChecker, fetch_size: int) -> None:
    """Fetch and check batches with one FETCH always ahead: the server reads the next batch while this process
    hashes the current one (a batch small enough to wait in the socket buffers)."""
    pending = asyncio.ensure_future(cursor.fetch(fetch_size))
    try:
        while rows := await pending:
            pending = asyncio.ensure_future(cursor.fetch(fetch_size))
            await asyncio.sleep(0)  # let it send the FETCH before the CPU-bound check
            checker.feed(rows)
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


async def _verify_ranges(
    dsn: str, snapshot: str, ranges: list[Range], fetch_size: int, max_breaks: int,
) -> list[tuple[int, int, int, list[Break]]]:
    """Check each range in a process of its own (the database URL travels on stdin, see `run_range_workers`)."""
    task = {"dsn": dsn, "snapshot": snapshot, "fetch_size": fetch_size, "max_breaks": max_breaks}
    answers = await run_range_workers("eventstore.audit:_range_worker", task, ranges, "verify")
    return [(a["streams"], a["events"], a["total"], [Break(b["stream_id"], b["version"], b["reason"]) for b in a["breaks"]])
            for a in answers]


def _range_worker() -> None:
    """A verify worker process: the range named on stdin, its result as JSON on stdout."""
    task = json.loads(sys.stdin.read())
    streams, events, total, found = asyncio.run(_verify_range(
        task["dsn"], task["snapshot"], task["low"], task["high"], task["fetch_size"], task["max_breaks"]))
    json.dump({"streams": streams, "events": events, "total": total,
               "breaks": [{"stream_id": b.stream_id, "version": b.version, "reason": b.reason} for b in found]},
              sys.stdout)


async def _verify_range(
    dsn: str, snapshot: str, low: str | None, high: str | None, fetch_size: int, max_breaks: int
) -> tuple[int, int, int, list[Break]]:
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    report = VerifyReport()
    checker = _ChainChecker(_Breaks(report, max_breaks))
    conn = await asyncpg.connect(to_asyncpg_dsn(dsn))
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            await _feed_range(conn, checker, low, high, fetch_size)
    finally:
        await conn.close()
    return checker.streams, checker.events, report.breaks_total, report.breaks


async def verify_stream(
    pool: asyncpg.Pool | asyncpg.Connection, stream_id: str, *, through_version: int | None = None
) -> Break | None:
    """The first break in one stream's chain (versions 1 … ``through_version``), or None if it is intact.

    Reads the raw rows like ``verify_log`` (anchors are not consulted); a stream with no events is intact.
    """
    breaks = VerifyReport()
    checker = _ChainChecker(_Breaks(breaks, 1))
    limit = 2**31 - 1 if through_version is None else through_version
    checker.feed(await pool.fetch(_STREAM_EVENTS, stream_id, limit))
    return breaks.first_break


# --- anchors -------------------------------------------------------------------------------------------------


def heads_digest(heads: dict[str, Sequence[Any]]) -> bytes:
    """SHA-256 of the canonical JSON of ``{stream_id: [version, hash_hex]}``."""
    return hashlib.sha256(canonical_json(heads).encode("utf-8")).digest()


async def record_anchor(pool: asyncpg.Pool | asyncpg.Connection, day: dt.date) -> bool:
    """Record the heads of all streams as the anchor of ``day``; False if that day already has one.

    Idempotent (the first anchor of a day stays; rows are insert-only) and safe to race: one insert wins.
    The heads are those of one snapshot taken now (``created_at``), not of the end of ``day``.
    """
    if await pool.fetchval(_ANCHOR_EXISTS, day):
        return False
    heads = {row[0]: [row[1], row[2].hex()] for row in await pool.fetch(_HEADS)}
    inserted = await pool.fetchval(
        _INSERT_ANCHOR, day, len(heads), sum(version for version, _ in heads.values()), heads_digest(heads),
        canonical_json(heads),
    )
    return inserted is not None


async def list_anchors(pool: asyncpg.Pool | asyncpg.Connection) -> list[Anchor]:
    """Every anchor, oldest first, without its heads (to compare digests with copies kept elsewhere)."""
    return [Anchor(*row) for row in await pool.fetch(_LIST_ANCHORS)]


def _parse_heads(text: str) -> dict[str, tuple[int, str]] | str:
    """The heads as {stream_id: (version, hash_hex)}, or why they are malformed."""
    heads = json.loads(text)
    if not isinstance(heads, dict):
        return "heads is not a JSON object"
    parsed = {}
    for stream_id, entry in heads.items():
        if (
            not isinstance(entry, list) or len(entry) != 2 or type(entry[0]) is not int or entry[0] < 1
            or not isinstance(entry[1], str) or len(entry[1]) != 64
        ):
            return f"the entry of stream {stream_id!r} is not [version, hash_hex]: {entry!r}"
        try:
            bytes.fromhex(entry[1])
        except ValueError:
            return f"the entry of stream {stream_id!r} has a malformed hash {entry[1]!r}"
        parsed[stream_id] = (entry[0], entry[1])
    return parsed


async def _check_all_anchors(conn: asyncpg.Connection, breaks: _Breaks) -> int:
    count = 0
    previous: dict[str, tuple[int, str]] = {}
    cursor = await conn.cursor(_ALL_ANCHORS)
    while rows := await cursor.fetch(1):  # one anchor (every stream's head) at a time
        for anchor_date, streams, events, digest, heads_text in rows:
            count += 1
            heads = _parse_heads(heads_text)
            if isinstance(heads, str):
                breaks.add(Break(None, None, heads, anchor_date))
                continue
            if heads_digest(heads) != digest:
                breaks.add(Break(None, None, "heads_digest does not match the recorded heads", anchor_date))
            total = sum(version for version, _ in heads.values())
            if (streams, events) != (len(heads), total):
                breaks.add(Break(None, None, f"records {streams} streams and {events} events but its heads"
                                             f" hold {len(heads)} streams and {total} events", anchor_date))
            changed = [(s, v, h) for s, (v, h) in heads.items() if previous.get(s) != (v, h)]
            await _check_entries(conn, anchor_date, changed, breaks)
            previous = heads
    return count


async def _check_stream_anchors(conn: asyncpg.Connection, stream_id: str, breaks: _Breaks) -> int:
    count = 0
    previous = None
    for anchor_date, entry_text in await conn.fetch(_STREAM_ANCHORS, stream_id):
        count += 1
        heads = _parse_heads(f"{{{_encode_string(stream_id)}:{entry_text}}}")
        if isinstance(heads, str):
            breaks.add(Break(stream_id, None, heads, anchor_date))
            continue
        entry = heads[stream_id]
        if entry != previous:
            await _check_entries(conn, anchor_date, [(stream_id, *entry)], breaks)
        previous = entry
    return count


async def _check_entries(
    conn: asyncpg.Connection, anchor_date: dt.date, entries: Iterable[tuple[str, int, str]], breaks: _Breaks
) -> None:
    entries = list(entries)
    if not entries:
        return
    anchored = {stream_id: (version, hash_hex) for stream_id, version, hash_hex in entries}
    rows = await conn.fetch(
        _ANCHOR_MISMATCHES,
        [e[0] for e in entries], [e[1] for e in entries], [bytes.fromhex(e[2]) for e in entries],
    )
    for stream_id, version, actual, head in rows:
        hash_hex = anchored[stream_id][1]
        if head is None:
            reason = f"the stream is missing: the anchor recorded it at version {version} ({hash_hex[:12]}…)"
        elif actual is None:
            reason = f"the stream ends at version {head}, the anchor recorded version {version}"
        else:
            reason = (f"the hash of version {version} is {actual.hex()[:12]}…, the anchor recorded"
                      f" {hash_hex[:12]}…: history was rewritten")
        breaks.add(Break(stream_id, version, reason, anchor_date))


class _connection:
    """``async with``: a connection from a pool, or the given connection as is."""

    def __init__(self, source: asyncpg.Pool | asyncpg.Connection) -> None:
        self._source = source
        self._acquired: Any = None

    async def __aenter__(self) -> asyncpg.Connection:
        if isinstance(self._source, asyncpg.Pool):
            self._acquired = self._source.acquire()
            return await self._acquired.__aenter__()
        return self._source

    async def __aexit__(self, *exc: object) -> None:
        if self._acquired is not None:
            await self._acquired.__aexit__(*exc)
