"""Names and shapes of the activities workflows call. No I/O here, so workflow code may import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

APPEND_EVENTS = "append_events"
RELEASE_REWARD = "release_reward"
STREAM_CONFLICT = "StreamConflict"


@dataclass(frozen=True)
class EventToAppend:
    event_id: str
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: datetime
    schema_version: int = 1


@dataclass(frozen=True)
class AppendEventsInput:
    stream_id: str
    expected_version: int
    events: list[EventToAppend] = field(default_factory=list)
    # Local-activity appends (workflows/topic.py, "local-append"): when the stream is already past
    # `expected_version`, answer with what it holds there instead of failing (see `AppendEventsOutput.recorded`).
    report_ahead: bool = False


@dataclass(frozen=True)
class RecordedEventData:
    """An event the log already holds past the expected version, as the workflow needs it to catch up."""

    stream_version: int
    event_type: str
    data: dict[str, Any]
    causation_id: str


@dataclass(frozen=True)
class AppendEventsOutput:
    stream_version: int
    positions: list[int]
    # Only with `report_ahead`: nothing was appended because the stream already holds these events after the
    # expected version (an earlier attempt of the workflow appended them and its workflow task was then lost).
    recorded: list[RecordedEventData] = field(default_factory=list)


@dataclass(frozen=True)
class ReleaseRewardInput:
    topic_id: str
    key: str  # the reward's key within the topic: "conclusion" or "milestone:<key>"
    reason: str
    amount: float
    unit: str
    org: str
    granted_at: datetime


@dataclass(frozen=True)
class ReleaseRewardOutput:
    released: bool
    reference: str = ""
    error: str = ""
