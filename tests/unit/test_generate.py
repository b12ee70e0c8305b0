"""The generated scale log (benchmarks/generate.py): real decider events, deterministic, every lifecycle state."""

from __future__ import annotations

import json

from benchmarks.generate import Plan, _canonical, build_world, copy_line, topic_rows
from domain import event_from_data, fold
from domain.state import STATE_LABELS
from eventstore.hashing import canonical_json

PLAN = Plan(topics=120, cities=(2, 3), branches=(3, 5))


def _rows(indexes=None):
    world = build_world(PLAN.seed, PLAN.cities, PLAN.branches)
    return list(topic_rows(PLAN, world, range(PLAN.topics) if indexes is None else indexes))


def test_the_log_is_deterministic_and_independent_of_how_topics_are_split():
    whole = _rows()
    assert whole == _rows()
    halves = _rows(range(0, PLAN.topics, 2)) + _rows(range(1, PLAN.topics, 2))
    assert sorted(whole, key=lambda r: (r[2], r[3])) == sorted(halves, key=lambda r: (r[2], r[3]))


def test_rows_come_in_time_order_and_every_stream_folds_to_every_status():
    rows = _rows()
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    streams: dict[str, list] = {}
    for row in rows:
        streams.setdefault(row[2], []).append(row)
    statuses = set()
    for stream in streams.values():
        assert [r[3] for r in stream] == list(range(1, len(stream) + 1))
        statuses.add(fold(event_from_data(r[4], json.loads(r[6])) for r in stream).status)
    assert statuses == set(STATE_LABELS) - {"none"}


def test_the_fast_canonical_encoding_is_the_hashing_one():
    for row in _rows(range(12)):
        data, metadata = json.loads(row[6]), json.loads(row[7])
        assert row[6] == canonical_json(data) == _canonical(data)
        assert row[7] == canonical_json(metadata)
    tricky = {"a": [1.0, 2.5, 1e16, -0.0, 1e23, {"z": 3.0, "b": "领题\n\\"}], "n": None, "t": True}
    assert _canonical(tricky) == canonical_json(tricky)


def test_copy_lines_escape_backslashes_and_write_nulls():
    row = _rows(range(1))[0]
    line = copy_line(row).decode()
    fields = line.rstrip("\n").split("\t")
    assert len(fields) == 11
    assert fields[9] == "\\N" and fields[10].startswith("\\\\x")  # version 1: no prev_hash


def test_the_wakeup_shortcut_changes_nothing(monkeypatch):
    from benchmarks import generate
    from domain.schedule import next_wakeup

    fast = _rows(range(40))
    monkeypatch.setattr(generate.TopicStory, "_next_wakeup",
                        lambda self: next_wakeup(self.state, generate.POLICY, generate.TIMEZONE))
    assert _rows(range(40)) == fast
