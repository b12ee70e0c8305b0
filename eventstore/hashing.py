"""Per-stream SHA-256 hash chain over a canonical encoding of each event.

``hash = SHA-256(canonical)``, where ``canonical`` is, byte for byte, the UTF-8 encoding of one JSON object
with exactly these eight keys, written in this (code point) order with no whitespace at all::

    {"data":D,"event_type":T,"metadata":M,"occurred_at":O,"prev_hash":P,"schema_version":S,"stream_id":I,"stream_version":V}

- ``T``, ``I``: JSON strings; ``S``, ``V``: JSON integers in plain decimal.
- ``O``: string ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` — ``occurred_at`` converted to UTC, always six fraction digits,
  four-digit year, literal ``Z``.
- ``P``: the previous event's hash (stream_version - 1) as 64 lowercase hex digits, or ``null`` for version 1.
- ``D``, ``M``: the event's data and metadata, encoded recursively by the same rules: objects with string keys
  sorted by Unicode code point, separators ``,`` and ``:``; strings escape only ``"`` ``\\`` and the control
  characters below U+0020 (``\\b \\f \\n \\r \\t``, others as ``\\u00xx`` lowercase), everything else is written
  as raw UTF-8 (no ``\\u`` escapes for non-ASCII); ``true``/``false``/``null``; integers in plain decimal.
  A float whose value is integral is first replaced by the integer its shortest decimal form denotes
  (``1.0`` → ``1``, ``1e16`` → ``10000000000000000``); other floats use their shortest round-trip decimal form
  (Python ``repr``, e.g. ``0.1``, ``1.5e-07``). NaN and infinities are rejected.

This is exactly ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``
after the float rule. The float rule makes the encoding stable across a jsonb round trip (PostgreSQL stores
numbers as ``numeric`` and gives ``1.0``/``1e16`` back in other spellings), so ``verify_chain`` works on
events read back from the database.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from eventstore.events import RecordedEvent

_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _normalize(value: Any) -> Any:
    """Apply the float rule recursively and reject values with no canonical form."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} has no canonical JSON form")
        if value.is_integer():
            return int(Decimal(repr(value)))
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, got {key!r}")
            out[key] = _normalize(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_normalize(item) for item in value]
    return value


def format_occurred_at(moment: datetime) -> str:
    """``occurred_at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"occurred_at must be timezone-aware, got {moment!r}")
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_json(value: Any) -> str:
    """Canonical JSON text of a data or metadata value (the ``D``/``M`` parts above)."""
    return _encoder.encode(_normalize(value))


def _canonical_float(text: str) -> float | int:
    """The float rule for a JSON number with a fraction or exponent, as ``json.loads`` hands it over."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite number {text!r} has no canonical JSON form")
    return int(Decimal(repr(value))) if value.is_integer() else value


def _raise_type_error(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _one_pass_codec() -> tuple[Callable[[str, int], tuple[Any, int]], Callable[[Any, int], Any]] | None:
    """CPython's C JSON scanner and encoder, built once with the canonical settings (None if unavailable).

    ``json.loads``/``JSONEncoder.encode`` build these for every call; the audit calls them millions of times.
    """
    from json.encoder import c_encode_basestring, c_make_encoder
    from json.scanner import c_make_scanner

    if c_make_encoder is None or c_make_scanner is None or c_encode_basestring is None:
        return None
    scanner = c_make_scanner(json.JSONDecoder(parse_float=_canonical_float))
    encoder = c_make_encoder(None, _raise_type_error, c_encode_basestring, None, ":", ",", True, False, False)
    return scanner, encoder


_codec = _one_pass_codec()


def canonical_json_from_text(text: str) -> str:
    """``canonical_json(json.loads(text))`` in one pass, for JSON text such as PostgreSQL's jsonb output.

    The float rule is applied while parsing (``parse_float``), which skips the recursive ``_normalize`` walk:
    the audit recomputes millions of hashes from raw rows with it.
    """
    if _codec is not None:
        scan, encode = _codec
        try:
            value, end = scan(text, 0)
        except StopIteration:  # leading whitespace or not JSON: let json.loads explain
            pass
        else:
            if end == len(text):
                return "".join(encode(value, 0))
    return _encoder.encode(json.loads(text, parse_float=_canonical_float))


def canonical_bytes_from_json(
    *,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    data_json: str,
    metadata_json: str,
    occurred_at: datetime,
    prev_hash: bytes | None,
) -> bytes:
    """The hashed bytes, from data and metadata already encoded with ``canonical_json``."""
    return "".join(
        (
            '{"data":',
            data_json,
            ',"event_type":',
            _encoder.encode(event_type),
            ',"metadata":',
            metadata_json,
            ',"occurred_at":"',
            format_occurred_at(occurred_at),
            '","prev_hash":',
            "null" if prev_hash is None else f'"{prev_hash.hex()}"',
            ',"schema_version":',
            str(int(schema_version)),
            ',"stream_id":',
            _encoder.encode(stream_id),
            ',"stream_version":',
            str(int(stream_version)),
            "}",
        )
    ).encode("utf-8")


def canonical_bytes(
    *,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
    occurred_at: datetime,
    prev_hash: bytes | None,
) -> bytes:
    """The exact bytes that are hashed (see the module docstring)."""
    return canonical_bytes_from_json(
        stream_id=stream_id,
        stream_version=stream_version,
        event_type=event_type,
        schema_version=schema_version,
        data_json=canonical_json(data),
        metadata_json=canonical_json(metadata),
        occurred_at=occurred_at,
        prev_hash=prev_hash,
    )


def event_hash(**fields: Any) -> bytes:
    """SHA-256 digest (32 bytes) of ``canonical_bytes(**fields)``."""
    return hashlib.sha256(canonical_bytes(**fields)).digest()


def recorded_hash(event: RecordedEvent) -> bytes:
    """Recompute the hash a recorded event should carry, from its content and its stored ``prev_hash``."""
    return event_hash(
        stream_id=event.stream_id,
        stream_version=event.stream_version,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.data,
        metadata=event.metadata,
        occurred_at=event.occurred_at,
        prev_hash=event.prev_hash,
    )


def verify_chain(events: Iterable[RecordedEvent]) -> int | None:
    """Check one stream's events (ascending versions); return the first broken or missing version, or None.

    A suffix of a stream may be given: the first event's ``prev_hash`` is then taken on trust.
    """
    stream_id: str | None = None
    previous: RecordedEvent | None = None
    for event in events:
        if stream_id is None:
            stream_id = event.stream_id
        elif event.stream_id != stream_id:
            raise ValueError(f"verify_chain takes one stream, got {stream_id!r} and {event.stream_id!r}")
        if previous is None:
            if event.stream_version == 1 and event.prev_hash is not None:
                return 1
        else:
            if event.stream_version != previous.stream_version + 1:
                return previous.stream_version + 1
            if event.prev_hash != previous.hash:
                return event.stream_version
        if recorded_hash(event) != event.hash:
            return event.stream_version
        previous = event
    return None
