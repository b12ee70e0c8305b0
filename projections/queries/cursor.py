"""Opaque keyset cursors for the topic list, ordered by (updated_at desc, topic_id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


class InvalidCursor(ValueError):
    """The cursor was not produced by `list_topics` (or was altered); start again without one."""


def encode_cursor(updated_at: datetime, topic_id: str) -> str:
    raw = json.dumps([updated_at.isoformat(), topic_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, topic_id = json.loads(raw)
        updated_at = datetime.fromisoformat(stamp)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not valid; request the first page without a cursor") from error
    if updated_at.tzinfo is None or not isinstance(topic_id, str):
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not valid; request the first page without a cursor")
    return updated_at, topic_id
