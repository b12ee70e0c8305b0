"""Errors raised by the event store; none of them is worth retrying as is."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base class of every event store error."""


class StreamConflict(EventStoreError):
    """The stream is not at the expected version, or that version already holds different events."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int, detail: str = "") -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        message = (
            f"stream {stream_id!r}: expected version {expected_version}, actual version {actual_version}"
        )
        super().__init__(f"{message}: {detail}" if detail else message)
