"""Audit queries (GET /v1/audit/events): who did what, when, across all topics, read from the `events` log itself.

The log is the audit source of truth, so this reads the `events` table directly (no read model in between).
An event's organisation is decided here, once:

- its topic's org: the `org` of the stream's TopicProposed (version 1), which never changes, and
- its claim org: the `org` of the latest TopicClaimed of the stream at or before the event (the claim made by then,
  pending, confirmed or rejected); none before the first claim.

An event lies "within" a subtree when either lies within it: the unit that set the topic sees its whole history,
the claiming unit sees the topic's history from its claim on. `metadata.actor.org` (who acted, for which unit)
is shown but not used for scope.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger, Column, DateTime, Integer, MetaData, Select, Table, Text, and_, any_, bindparam, func, literal_column,
    or_, select, true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections.base import TOPIC_STREAM_PREFIX
from projections.queries.cursor import InvalidCursor
from projections.queries.visibility import in_subtree

MAX_PAGE = 500
CSV_CAP = 100_000  # rows of one CSV download; the last line says so when more match
CSV_CHUNK = 2_000  # rows per keyset query while streaming a CSV (short queries, no long transaction)
FEW_STREAMS = 2_000  # up to this many candidate topics, a narrow scope reads their streams instead of the log

events = Table(  # created by migration 0001_events; only the columns read here
    "events", MetaData(),
    Column("global_position", BigInteger, primary_key=True),
    Column("stream_id", Text), Column("stream_version", Integer), Column("event_type", Text),
    Column("schema_version", Integer), Column("data", JSONB), Column("metadata", JSONB),
    Column("occurred_at", DateTime(timezone=True)), Column("recorded_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class AuditFilter:
    """`scope`: the subtree the caller may see (or asked for); `actor`: an actor's sub; `types`: event types;
    `since`/`until`: bounds on occurred_at (inclusive)."""

    scope: str
    actor: str | None = None
    types: Collection[str] = ()
    since: datetime | None = None
    until: datetime | None = None


def encode_audit_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": position}).encode()).decode().rstrip("=")


def decode_audit_cursor(cursor: str) -> int:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["before"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        position = None
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not valid; request the first page without a cursor")
    return position


def _field(document: Any, *path: str) -> Any:
    """`document -> 'a' ->> 'b'` with the keys written literally (not as parameters), so expression indexes match."""
    *through, last = (literal_column(f"'{key}'") for key in path)
    for key in through:
        document = document.op("->", return_type=JSONB)(key)
    return document.op("->>", return_type=Text)(last)


def _org(table: Any) -> Any:
    """The `org` of a TopicProposed or TopicClaimed event, byte-wise like org paths elsewhere (COLLATE "C")."""
    return _field(table.c.data, "org").collate("C")


def _candidates(scope: str) -> Select:
    """Streams naming a unit of `scope` in a TopicProposed or TopicClaimed event: a necessary condition for any
    of their events to be in scope, found without per-event work."""
    unit = events.alias("u")
    org = _org(unit)
    # The subtree as a byte range ('0' follows '/'), which an index on the org serves even in a generic plan.
    return select(unit.c.stream_id).where(unit.c.event_type.in_(("TopicProposed", "TopicClaimed")),
                                          or_(org == scope, and_(org >= scope + "/", org < scope + "0")))


Streams = list[str] | None  # the candidate streams when few; None: test each event against every stream's units


def _statement(f: AuditFilter, before: int | None, limit: int, streams: Streams = None) -> Select:
    e, first, claim = events.alias("e"), events.alias("p"), events.alias("c")
    topic_org = _org(first)
    claimed = (
        select(_org(claim).label("claim_org"))
        .where(claim.c.stream_id == e.c.stream_id, claim.c.event_type == "TopicClaimed",
               claim.c.stream_version <= e.c.stream_version)
        .order_by(claim.c.stream_version.desc()).limit(1).lateral("cl")
    )
    actor = e.c.metadata.op("->", return_type=JSONB)(literal_column("'actor'"))
    stmt = (
        select(
            e.c.global_position.label("position"),
            func.substr(e.c.stream_id, len(TOPIC_STREAM_PREFIX) + 1).label("topic_id"),
            e.c.stream_version.label("version"), e.c.event_type.label("type"), e.c.schema_version,
            actor.label("actor"), e.c.occurred_at, e.c.recorded_at, topic_org.label("topic_org"),
            claimed.c.claim_org, e.c.data, _field(e.c.metadata, "correlation_id").label("correlation_id"),
        )
        .select_from(
            e.join(first, (first.c.stream_id == e.c.stream_id) & (first.c.stream_version == 1))
            .outerjoin(claimed, true())
        )
        .where(func.starts_with(e.c.stream_id, TOPIC_STREAM_PREFIX),
               or_(in_subtree(topic_org, f.scope), in_subtree(claimed.c.claim_org, f.scope)))
    )
    if streams is not None:  # few streams: read just theirs (index on stream_id), then sort
        stmt = stmt.where(e.c.stream_id == any_(bindparam("streams", streams, type_=ARRAY(Text))))
    elif "/" in f.scope:  # many: scan newest first, skipping other streams cheaply
        stmt = stmt.where(e.c.stream_id.in_(_candidates(f.scope)))
    if f.actor:
        stmt = stmt.where(_field(e.c.metadata, "actor", "sub") == f.actor)
    if f.types:
        stmt = stmt.where(e.c.event_type.in_(sorted(f.types)))
    if f.since is not None:
        stmt = stmt.where(e.c.occurred_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(e.c.occurred_at <= f.until)
    if before is not None:
        stmt = stmt.where(e.c.global_position < before)
    return stmt.order_by(e.c.global_position.desc()).limit(limit)


async def _few_streams(conn: AsyncConnection, scope: str) -> Streams:
    """Below the root, the candidate streams if there are at most FEW_STREAMS of them (else None)."""
    if "/" not in scope:
        return None
    found = list((await conn.execute(_candidates(scope).distinct().limit(FEW_STREAMS + 1))).scalars())
    return found if len(found) <= FEW_STREAMS else None


def _row(record: Any) -> dict[str, Any]:
    row = dict(record._mapping)
    actor = row["actor"] if isinstance(row["actor"], dict) else None
    row["actor"] = {k: actor.get(k) or "" for k in ("sub", "role", "org", "name")} if actor else None
    return row


class AuditQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page(self, f: AuditFilter, *, limit: int = 50, cursor: str | None = None,
                   ) -> tuple[list[dict[str, Any]], str | None]:
        """One page, newest first (global_position desc); (rows, next_cursor), next_cursor None on the last page.
        Raises InvalidCursor for a cursor this did not produce."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        limit = min(limit, MAX_PAGE)
        before = decode_audit_cursor(cursor) if cursor else None
        async with self._engine.connect() as conn:
            streams = await _few_streams(conn, f.scope)
            rows = [] if streams == [] else \
                [_row(r) for r in await conn.execute(_statement(f, before, limit + 1, streams))]
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], encode_audit_cursor(rows[limit - 1]["position"])

    async def stream(self, f: AuditFilter, *, cursor: str | None = None, cap: int | None = None,
                     chunk: int | None = None) -> AsyncIterator[tuple[list[dict[str, Any]], str | None]]:
        """Every matching row from `cursor` on, newest first, in chunks of short keyset queries, up to `cap` rows.
        Yields (rows, None) per chunk, and finally ([], cursor) if the cap cut the stream short (the cursor
        continues where it stopped). Validate the cursor with `decode_audit_cursor` before streaming."""
        cap, chunk = cap or CSV_CAP, chunk or CSV_CHUNK
        before = decode_audit_cursor(cursor) if cursor else None
        sent = 0
        async with self._engine.connect() as conn:
            streams = await _few_streams(conn, f.scope)
        while sent < cap and streams != []:
            size = min(chunk, cap - sent)
            async with self._engine.connect() as conn:
                rows = [_row(r) for r in await conn.execute(_statement(f, before, size, streams))]
            if not rows:
                return
            sent += len(rows)
            before = rows[-1]["position"]
            yield rows, None
            if len(rows) < size:
                return
        if streams == []:
            return
        async with self._engine.connect() as conn:
            more = (await conn.execute(_statement(f, before, 1, streams))).first() is not None
        if more:
            yield [], encode_audit_cursor(before)
