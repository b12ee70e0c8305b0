"""Event value types: what callers append (``NewEvent``) and what the store returns (``RecordedEvent``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventstore.position import Position


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append; its stream and version are given by ``EventStore.append``."""

    event_id: UUID
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: datetime
    schema_version: int = 1

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError(f"occurred_at must be timezone-aware, got {self.occurred_at!r}")


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored in the log, with its positions and hash chain links."""

    global_position: int
    event_id: UUID
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    tx_id: int
    prev_hash: bytes | None
    hash: bytes

    @property
    def position(self) -> Position:
        """The event's position in the gap-free global order (``read_all`` checkpoint)."""
        return Position(self.tx_id, self.global_position)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Outcome of an append: the stream's new version and the global positions of the appended events."""

    stream_version: int
    positions: list[int]
