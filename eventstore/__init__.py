"""Lingti's append-only event log on PostgreSQL (generic: knows nothing about topics)."""

from eventstore.connection import create_pool
from eventstore.errors import EventStoreError, StreamConflict
from eventstore.events import AppendResult, NewEvent, RecordedEvent
from eventstore.hashing import verify_chain
from eventstore.position import Lag, Position
from eventstore.store import NOTIFY_CHANNEL, EventStore

__all__ = [
    "NOTIFY_CHANNEL",
    "AppendResult",
    "EventStore",
    "EventStoreError",
    "Lag",
    "NewEvent",
    "Position",
    "RecordedEvent",
    "StreamConflict",
    "create_pool",
    "verify_chain",
]
