"""Completion read model: per topic, when it was claimed, concluded or withdrawn, so counts work as of any date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace
from datetime import datetime

import asyncpg

from domain import event_from_data
from domain import events as ev
from eventstore.events import RecordedEvent
from projections.base import ProjectionError, topic_streams, unseen

_COLUMNS = "topic_id, version, category, org, pending_claim_org, claim_org, claimed_at, concluded_at, withdrawn_at"
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
                rows.append(astuple(row))
        if rows:
            await conn.executemany(_UPSERT, rows)
