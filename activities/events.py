"""The one way events reach the log: an activity appending with expected version and deterministic ids."""

from __future__ import annotations

import uuid

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    APPEND_EVENTS, STREAM_CONFLICT, AppendEventsInput, AppendEventsOutput, RecordedEventData,
)
from eventstore import EventStore, NewEvent, StreamConflict

log = structlog.get_logger(__name__)


class EventActivities:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendEventsInput) -> AppendEventsOutput:
        """Append a batch; a retry of the same batch is a no-op, a different batch at the same version is fatal.

        With `report_ahead` (the workflow's local-activity path) a stream that already holds this workflow's
        events past the expected version is answered with those events instead: a local activity runs before
        its workflow task is recorded, so a worker lost after the append but before that task completed leaves
        events the workflow has not seen; its next attempt decides again (at a later workflow time, hence other
        content) and must catch up with the log, never overwrite or fork it."""
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
            if request.report_ahead and conflict.actual_version > request.expected_version:
                recorded = await self._recorded_after(request)
                if recorded is not None:
                    bound.warning("append_found_stream_ahead", stream_version=conflict.actual_version,
                                  recorded=[(e.stream_version, e.event_type, e.causation_id) for e in recorded])
                    return AppendEventsOutput(stream_version=recorded[-1].stream_version, positions=[],
                                              recorded=recorded)
            bound.error("append_conflict", error=str(conflict))
            raise ApplicationError(str(conflict), type=STREAM_CONFLICT, non_retryable=True) from conflict
        bound.info("events_appended", count=len(new_events), stream_version=result.stream_version)
        return AppendEventsOutput(stream_version=result.stream_version, positions=list(result.positions))

    async def _recorded_after(self, request: AppendEventsInput) -> list[RecordedEventData] | None:
        """The stream's events after the expected version, if every one was written by the same workflow as this
        batch (its metadata names the workflow); None otherwise (then it is a real conflict)."""
        owner = {e.metadata.get("workflow_id") for e in request.events}
        stored = await self._store.read_stream(request.stream_id, request.expected_version + 1)
        if not stored or len(owner) != 1 or None in owner \
                or any(e.metadata.get("workflow_id") not in owner for e in stored):
            return None
        return [RecordedEventData(stream_version=e.stream_version, event_type=e.event_type, data=e.data,
                                  causation_id=str(e.metadata.get("causation_id", ""))) for e in stored]
