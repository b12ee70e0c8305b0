"""Checkpoints in the gap-free global order: ``(tx_id, global_position)``."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class Position(NamedTuple):
    """A point in the global order; compares like the SQL row ``(tx_id, global_position)``."""

    tx_id: int
    global_position: int

    @classmethod
    def start(cls) -> Position:
        """Before the first event."""
        return cls(0, 0)


class Lag(NamedTuple):
    """How far a reader is behind: committed events after its position and the oldest one's record time."""

    events_behind: int
    oldest_unread_at: datetime | None
