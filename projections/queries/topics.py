"""Topic list, detail and history for the API (GET /v1/topics, /v1/topics/{id}, /v1/topics/{id}/events)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.state import STATE_LABELS
from eventstore import EventStore
from eventstore.audit import verify_stream
from eventstore.events import RecordedEvent
from projections.base import TOPIC_STREAM_PREFIX
from projections.queries.cursor import decode_cursor, encode_cursor
from projections.queries.visibility import in_subtree, visible_to
from projections.schema import topics as t

MAX_PAGE = 200

_LIST_COLUMNS = (
    t.c.topic_id.label("id"), t.c.title, t.c.category, t.c.org, t.c.claimed_by, t.c.status.label("state"),
    t.c.version, t.c.due_date, t.c.proposed_at, t.c.updated_at,
)


class TopicQueries:
    def __init__(self, engine: AsyncEngine, pool: asyncpg.Pool) -> None:
        self._engine = engine
        self._store = EventStore(pool)

    async def list_topics(
        self, viewer_org: str, *, state: str | Collection[str] | None = None, org: str | None = None,
        category: str | None = None, claimed_by: str | None = None, q: str | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the topics `viewer_org` may see, newest change first; `org`/`claimed_by` mean "within
        that subtree". Returns (rows, next_cursor); next_cursor is None on the last page.
        Raises InvalidCursor for a cursor it did not produce, ValueError for limit < 1."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        limit = min(limit, MAX_PAGE)
        stmt = _filtered(select(*_LIST_COLUMNS).where(visible_to(viewer_org)), state, org, category, claimed_by, q)
        if cursor is not None:
            updated_at, topic_id = decode_cursor(cursor)
            stmt = stmt.where(or_(t.c.updated_at < updated_at,
                                  and_(t.c.updated_at == updated_at, t.c.topic_id > topic_id)))
        stmt = stmt.order_by(t.c.updated_at.desc(), t.c.topic_id).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = [_labelled(dict(r._mapping)) for r in await conn.execute(stmt)]
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], encode_cursor(last["updated_at"], last["id"])

    async def get_topic(self, topic_id: str) -> dict[str, Any] | None:
        """The topic's full folded state (claim, plan, milestones, reports, conclusion…) plus its list fields."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_LIST_COLUMNS, t.c.state.label("detail"))
                                      .where(t.c.topic_id == topic_id))).mappings().first()
        if row is None:
            return None
        detail = {k: v for k, v in row["detail"].items() if k not in ("status", "topic_id", "version")}
        fields = {k: v for k, v in row.items() if k != "detail"}
        return _labelled({**detail, **fields})

    async def topic_history(self, topic_id: str) -> list[dict[str, Any]]:
        """The topic's events in stream order, with actor and hash chain links; [] for an unknown topic."""
        return [_history_entry(e) for e in await self._store.read_stream(TOPIC_STREAM_PREFIX + topic_id)]

    async def topic_chain_valid(self, topic_id: str, through_version: int | None = None) -> bool:
        """Whether the topic's hash chain (versions 1 … `through_version`) recomputes from the raw rows."""
        stream_id = TOPIC_STREAM_PREFIX + topic_id
        return await verify_stream(self._store.pool, stream_id, through_version=through_version) is None


def _filtered(stmt: Select, state: str | Collection[str] | None, org: str | None, category: str | None,
              claimed_by: str | None, q: str | None) -> Select:
    if state:
        stmt = stmt.where(t.c.status == state if isinstance(state, str) else t.c.status.in_(list(state)))
    if org:
        stmt = stmt.where(in_subtree(t.c.org, org))
    if category:
        stmt = stmt.where(t.c.category == category)
    if claimed_by:
        stmt = stmt.where(in_subtree(t.c.claimed_by, claimed_by))
    if q:
        needle = q.lower()
        stmt = stmt.where(or_(func.strpos(func.lower(t.c.title), needle) > 0,
                              func.strpos(func.lower(t.c.description), needle) > 0))
    return stmt


def _labelled(row: dict[str, Any]) -> dict[str, Any]:
    row["state_label"] = STATE_LABELS.get(row["state"], row["state"])
    return row


def _history_entry(event: RecordedEvent) -> dict[str, Any]:
    actor = event.metadata.get("actor") or {}
    return {
        "version": event.stream_version,
        "type": event.event_type,
        "data": event.data,
        "actor": {key: actor.get(key) for key in ("sub", "role", "org", "name")},
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "event_id": str(event.event_id),
        "correlation_id": event.metadata.get("correlation_id"),
        "hash": event.hash.hex(),
        "prev_hash": event.prev_hash.hex() if event.prev_hash is not None else None,
    }
