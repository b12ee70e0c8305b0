"""Completion read model: per topic, when it was claimed, concluded or withdrawn, so counts work as of any date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from domain import event_from_data
from domain import events as ev
from eventstore.events import RecordedEvent
from projections.base import ProjectionError, StreamEvent, topic_streams, unseen

_COLUMN_NAMES = ("topic_id", "version", "category", "org", "pending_claim_org", "claim_org", "claimed_at",
                 "concluded_at", "withdrawn_at")
_COLUMNS = ", ".join(_COLUMN_NAMES)
_LOAD = f"SELECT {_COLUMNS} FROM topic_completion WHERE topic_id = ANY($1::text[])"
_UPSERT = f"""
INSERT INTO topic_completion ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (topic_id) DO UPDATE SET
    version = EXCLUDED.version, category = EXCLUDED.category, org = EXCLUDED.org,
    pending_claim_org = EXCLUDED.pending_claim_org, claim_org = EXCLUDED.claim_org,
    claimed_at = EXCLUDED.claimed_at, concluded_at = EXCLUDED.concluded_at, withdrawn_at = EXCLUDED.withdrawn_at
WHERE topic_completion.version < EXCLUDED.version
"""


@dataclass(frozen=True, slots=True)
class CompletionRow:
    topic_id: str
    version: int
    category: str
    org: str
    pending_claim_org: str | None = None
    claim_org: str | None = None
    claimed_at: datetime | None = None
    concluded_at: datetime | None = None
    withdrawn_at: datetime | None = None


def completion_step(row: CompletionRow | None, event: ev.Event, at: datetime, topic_id: str) -> CompletionRow:
    """The row after one event; `at` is the event's business time (occurred_at)."""
    if isinstance(event, ev.TopicProposed):
        return CompletionRow(topic_id=topic_id, version=0, category=event.category, org=event.org)
    if row is None:
        raise ProjectionError(f"topic {topic_id}: {type(event).__name__} before TopicProposed")
    match event:
        case ev.ProposalRevised(category=category):
            return replace(row, category=category)
        case ev.TopicClaimed(org=org):
            return replace(row, pending_claim_org=org)
        case ev.ClaimRejected():
            return replace(row, pending_claim_org=None)
        case ev.ClaimConfirmed():
            return replace(row, claim_org=row.pending_claim_org, pending_claim_org=None, claimed_at=at)
        case ev.ConclusionApproved() | ev.PostingCompleted():  # ruleset 1 concluded on approval; 2 after 公示
            return replace(row, concluded_at=at)
        case ev.TopicWithdrawn():
            return replace(row, withdrawn_at=at)
    return row


class CompletionProjection:
    """Keeps the claim, conclusion and withdrawal instants; the report counts them against any `as_of`."""

    name = "topic_completion"
    tables = ("topic_completion",)
    copy_columns = {"topic_completion": _COLUMN_NAMES}

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        streams = topic_streams(events)
        if not streams:
            return
        stored = {r["topic_id"]: CompletionRow(**dict(r)) for r in await conn.fetch(_LOAD, list(streams))}
        rows = []
        for topic_id, stream in streams.items():
            row = stored.get(topic_id)
            fresh = unseen(stream, row.version if row else 0, topic_id, self.name)
            for event in fresh:
                row = completion_step(row, event_from_data(event.event_type, event.data), event.occurred_at, topic_id)
                row = replace(row, version=event.stream_version)
            if fresh:
                rows.append(_as_row(row))
        if rows:
            await conn.executemany(_UPSERT, rows)

    def fold_rows(self, topic_id: str, stream: Sequence[StreamEvent]) -> dict[str, list[tuple]]:
        """The row of a whole stream (a rebuild). Only the events `completion_step` acts on are stepped; the row's
        version is the stream's last (as `apply` leaves it)."""
        row: CompletionRow | None = None
        for item in stream:
            if item.event_type in _STEPPED or row is None:
                row = completion_step(row, item.event, item.occurred_at, topic_id)
        assert row is not None
        return {"topic_completion": [_as_row(replace(row, version=stream[-1].stream_version))]}


def _as_row(row: CompletionRow) -> tuple:
    """The row's values in column order (`dataclasses.astuple` also deep-copies every value: slow, and needless)."""
    return (row.topic_id, row.version, row.category, row.org, row.pending_claim_org, row.claim_org, row.claimed_at,
            row.concluded_at, row.withdrawn_at)


# The events `completion_step` changes a row for; it returns the row unchanged for every other one.
_STEPPED = frozenset({"TopicProposed", "ProposalRevised", "TopicClaimed", "ClaimRejected", "ClaimConfirmed",
                      "ConclusionApproved", "PostingCompleted", "TopicWithdrawn"})
