"""Topic list/detail read model: one `topics` row per topic with its folded `TopicState` (GET /v1/topics…)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from domain import TopicState, event_from_data, evolve, initial_state
from eventstore.events import RecordedEvent
from domain.lifecycle import _EVOLVERS  # the per-event evolution; `evolve` adds the version bump
from projections.base import JsonText, ProjectionError, StreamEvent, topic_streams, unseen

_COLUMNS = ("topic_id", "version", "status", "title", "description", "category", "org", "claimed_by", "proposer",
            "due_date", "state", "proposed_at", "updated_at")

_LOAD = "SELECT topic_id, version, state, proposed_at FROM topics WHERE topic_id = ANY($1::text[])"

_UPSERT = """
INSERT INTO topics (topic_id, version, status, title, description, category, org, claimed_by, proposer,
                    due_date, state, proposed_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (topic_id) DO UPDATE SET
    version = EXCLUDED.version, status = EXCLUDED.status, title = EXCLUDED.title,
    description = EXCLUDED.description, category = EXCLUDED.category, org = EXCLUDED.org,
    claimed_by = EXCLUDED.claimed_by, proposer = EXCLUDED.proposer, due_date = EXCLUDED.due_date,
    state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
WHERE topics.version < EXCLUDED.version
"""


class TopicListProjection:
    """Folds each topic's events with the domain's own `evolve`, so the row is exactly the workflow's state."""

    name = "topic_list"
    tables = ("topics",)
    copy_columns = {"topics": _COLUMNS}

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        streams = topic_streams(events)
        if not streams:
            return
        stored = {r["topic_id"]: r for r in await conn.fetch(_LOAD, list(streams))}
        rows = []
        for topic_id, stream in streams.items():
            row = stored.get(topic_id)
            state = TopicState.model_validate(row["state"]) if row else initial_state
            fresh = unseen(stream, state.version, topic_id, self.name)
            if fresh:
                rows.append(self._row(topic_id, _fold(state, fresh, topic_id), row, fresh))
        if rows:
            await conn.executemany(_UPSERT, rows)

    def fold_rows(self, topic_id: str, stream: Sequence[StreamEvent]) -> dict[str, list[tuple]]:
        """The row of a whole stream (a rebuild): the domain's own evolution from the initial state, with the
        version (which only `evolve` moves, one per event) set once at the end, and the state written as JSON
        text straight from pydantic."""
        if stream[0].event_type != "TopicProposed":
            raise ProjectionError(f"topic {topic_id}: its first event is {stream[0].event_type}, not TopicProposed")
        state = initial_state
        evolvers = _EVOLVERS
        for item in stream:
            state = evolvers[type(item.event)](state, item.event)
        state = state.model_copy(update={"version": initial_state.version + len(stream)})
        return {"topics": [self._row(topic_id, state, None, stream, JsonText(state.model_dump_json().encode()))]}

    @staticmethod
    def _row(topic_id: str, state: TopicState, stored: Any, fresh: Sequence[RecordedEvent | StreamEvent],
             state_json: Any = None) -> tuple:
        proposed_at: datetime = stored["proposed_at"] if stored else fresh[0].occurred_at
        claimed_by = state.claim.org if state.claim else None
        return (
            topic_id, state.version, state.status, state.title, state.description, state.category, state.org,
            claimed_by, state.proposer, state.due_date,
            state.model_dump(mode="json") if state_json is None else state_json, proposed_at, fresh[-1].occurred_at,
        )


def _fold(state: TopicState, events: list[RecordedEvent], topic_id: str) -> TopicState:
    if state.version == 0 and events[0].event_type != "TopicProposed":
        raise ProjectionError(f"topic {topic_id}: its first event is {events[0].event_type}, not TopicProposed")
    for event in events:
        state = evolve(state, event_from_data(event.event_type, event.data))
    return state
