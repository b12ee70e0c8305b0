"""What every read model is: a name, the tables it owns, and `apply` inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import asyncpg

from eventstore.events import RecordedEvent

TOPIC_STREAM_PREFIX = "topic-"


class Projection(Protocol):
    """A read model fed by the projector; `apply` must be idempotent for events it has already seen."""

    name: str
    tables: tuple[str, ...]

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None: ...


class ProjectionError(Exception):
    """The log holds something a read model cannot follow (a version gap, an event for an unknown topic)."""


def topic_streams(events: Iterable[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    """Events of topic streams grouped by topic id, each group in stream order; other streams are ignored."""
    grouped: dict[str, list[RecordedEvent]] = {}
    for event in events:
        if event.stream_id.startswith(TOPIC_STREAM_PREFIX):
            grouped.setdefault(event.stream_id.removeprefix(TOPIC_STREAM_PREFIX), []).append(event)
    for group in grouped.values():
        group.sort(key=lambda e: e.stream_version)
    return grouped


def unseen(events: list[RecordedEvent], version: int, topic_id: str, read_model: str) -> list[RecordedEvent]:
    """The events after `version`, which must follow it without a gap."""
    fresh = [e for e in events if e.stream_version > version]
    for expected, event in enumerate(fresh, start=version + 1):
        if event.stream_version != expected:
            raise ProjectionError(
                f"{read_model}: topic {topic_id} is at version {expected - 1} but the next event read is "
                f"version {event.stream_version} ({event.event_type}, position {event.global_position}); "
                "the log must be read gap-free: rebuild the read model"
            )
    return fresh
