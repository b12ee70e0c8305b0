"""The append path's fast encoding writes exactly what eventstore.hashing defines (the hash format's authority)."""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from enum import Enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import NewEvent
from eventstore.hashing import canonical_bytes_from_json, canonical_json
from eventstore.store import _canonical, _chain, _chain_slow


def same(value: object) -> None:
    """`_canonical` returns what `canonical_json` returns, or raises what it raises."""
    try:
        expected = canonical_json(value)
    except Exception as error:  # noqa: BLE001
        with pytest.raises(type(error)):
            _canonical(value)
        return
    assert _canonical(value) == expected


json_leaves = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text() | st.sampled_from([1.0, -0.0, 0.0, 1e16, 1e300, 2.5e-7, 123456789.0, 98.5, float("nan")])
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=5) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonical_matches_hashing(value: object) -> None:
    same(value)
    same({"payload": value, "n": 1})


class Colour(str, Enum):
    RED = "red"


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1.0, "b": [2.0, 2.5, {"c": 1e16}]},
        {"score": 92.0, "actual": 99.1},
        {"t": (1, 2.0, "x")},
        {1: "int key"},
        {"nested": {2: "int key"}},
        {"nan": float("nan")},
        {"inf": [float("-inf")]},
        {"colour": Colour.RED},
        {"ordered": OrderedDict(b=1, a=2.0)},
        {"uuid": uuid.UUID(int=1)},
        {"true": True, "false": False, "none": None, "big": 2**70},
        {"text": "引号\"反斜杠\\ 控制\x00\x1f\n\t\u2028 emoji 🎉"},
        "just a string",
        3.0,
        [],
        {},
    ],
)
def test_canonical_edge_cases(value: object) -> None:
    same(value)


def test_deep_nesting_falls_back() -> None:
    value: object = 1.0
    for _ in range(200):
        value = {"v": [value]}
    same(value)


def test_circular_reference_is_rejected() -> None:
    value: dict = {}
    value["self"] = value
    with pytest.raises((ValueError, RecursionError)):
        _canonical(value)


moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]),
)


@settings(max_examples=200, deadline=None)
@given(
    stream_id=st.text(min_size=1, max_size=20),
    first_version=st.integers(min_value=1, max_value=2**31 - 100),
    types=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6),
    schema_version=st.integers(min_value=1, max_value=5),
    moment=moments,
    with_prev=st.booleans(),
)
def test_chain_matches_hashing(stream_id, first_version, types, schema_version, moment, with_prev) -> None:
    events = [
        NewEvent(event_id=uuid.uuid4(), event_type=t, data={"i": i, "x": 1.5}, metadata={"actor": "周杰"},
                 occurred_at=moment + timedelta(microseconds=i // 2), schema_version=schema_version)
        for i, t in enumerate(types)
    ]
    data = [canonical_json(e.data) for e in events]
    metadata = [canonical_json(e.metadata) for e in events]
    prev = hashlib.sha256(b"previous").digest() if with_prev else None
    expected_prevs, expected = [], []
    link = prev
    for i, e in enumerate(events):
        digest = hashlib.sha256(canonical_bytes_from_json(
            stream_id=stream_id, stream_version=first_version + i, event_type=e.event_type,
            schema_version=e.schema_version, data_json=data[i], metadata_json=metadata[i],
            occurred_at=e.occurred_at, prev_hash=link,
        )).digest()
        expected_prevs.append(link)
        expected.append(digest)
        link = digest
    assert _chain(stream_id, first_version, events, data, metadata, prev) == (expected_prevs, expected)
    assert _chain_slow(stream_id, first_version, events, data, metadata, prev) == (expected_prevs, expected)
