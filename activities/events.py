"""The one way events reach the log: an activity appending with expected version and deterministic ids."""

from __future__ import annotations

import uuid

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import APPEND_EVENTS, STREAM_CONFLICT, AppendEventsInput, AppendEventsOutput
from eventstore import EventStore, NewEvent, StreamConflict

log = structlog.get_logger(__name__)


class EventActivities:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendEventsInput) -> AppendEventsOutput:
        """Append a batch; a retry of the same batch is a no-op, a different batch at the same version is fatal."""
        new_events = [
            NewEvent(
                event_id=uuid.UUID(e.event_id), event_type=e.event_type, data=e.data,
                metadata=e.metadata, occurred_at=e.occurred_at, schema_version=e.schema_version,
            )
            for e in request.events
        ]
        bound = log.bind(stream_id=request.stream_id, expected_version=request.expected_version,
                         attempt=activity.info().attempt)
        try:
            result = await self._store.append(request.stream_id, request.expected_version, new_events)
        except StreamConflict as conflict:
            bound.error("append_conflict", error=str(conflict))
            raise ApplicationError(str(conflict), type=STREAM_CONFLICT, non_retryable=True) from conflict
        bound.info("events_appended", count=len(new_events), stream_version=result.stream_version)
        return AppendEventsOutput(stream_version=result.stream_version, positions=list(result.positions))
