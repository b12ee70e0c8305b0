"""Schema evolution: stored events keep their shape and hash; readers get the newest shape.

The real upcast: `TopicClaimed` v1 had no `claimant_name`; v2 carries the claimant's display name. A v1 row is
read as v2 with the name of the actor who recorded it (the claimant), by the projector and the history endpoint.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from domain import event_from_data
from domain import events as ev
from eventstore import NewEvent, Position, RecordedEvent, verify_chain
from eventstore.audit import verify_stream
from eventstore.upcasting import UpcasterRegistry, upcasters
from projections import Projector
from projections.engine import create_read_engine
from projections.queries import TopicQueries
from projections.upcasts import register_domain_upcasts
from tests.integration.test_projections import CLAIMED, TopicDriver, at

T0 = dt.datetime(2025, 3, 3, 10, tzinfo=dt.UTC)


def recorded(event_type: str, schema_version: int, data: dict, metadata: dict | None = None) -> RecordedEvent:
    return RecordedEvent(global_position=1, event_id=uuid.uuid4(), stream_id="s", stream_version=1,
                         event_type=event_type, schema_version=schema_version, data=data, metadata=metadata or {},
                         occurred_at=T0, recorded_at=T0, tx_id=1, prev_hash=None, hash=b"\0" * 32)


def test_upcasters_apply_in_order_from_the_stored_version_and_leave_the_input_alone():
    registry = UpcasterRegistry()

    @registry.register("Thing", 1)
    def v1_to_v2(data, metadata):
        data["size"] = {"value": data.pop("size"), "unit": "m"}
        return data

    @registry.register("Thing", 2)
    def v2_to_v3(data, metadata):
        data["owner"] = metadata.get("actor", {}).get("sub", "")
        return data

    old = recorded("Thing", 1, {"size": 3}, {"actor": {"sub": "li.ming"}})
    new = registry.upcast(old)
    assert (new.schema_version, new.data) == (3, {"size": {"value": 3, "unit": "m"}, "owner": "li.ming"})
    assert (old.schema_version, old.data) == (1, {"size": 3})  # the stored shape is untouched
    assert (new.hash, new.global_position, new.stream_version) == (old.hash, old.global_position, 1)
    assert registry.upcast(recorded("Thing", 2, {"size": {"value": 1, "unit": "m"}})).data["owner"] == ""
    current = recorded("Thing", 3, {"size": {}, "owner": "x"})
    assert registry.upcast(current) is current
    other = recorded("Other", 1, {})
    assert registry.upcast(other) is other
    assert (registry.latest_version("Thing"), registry.latest_version("Thing", 2), registry.latest_version("Other")) == (
        3, 3, 1)

    registry.register("Thing", 1, v1_to_v2)  # the same step again: fine
    with pytest.raises(ValueError, match="already has an upcaster"):
        registry.register("Thing", 1, lambda data, metadata: data)
    with pytest.raises(ValueError):
        registry.register("Thing", 0, v1_to_v2)
    registry.register("Broken", 1, lambda data, metadata: None)
    with pytest.raises(TypeError, match="not dict"):
        registry.upcast(recorded("Broken", 1, {}))


def test_every_event_class_is_reachable_from_v1_by_registered_upcasts(monkeypatch):
    registry = register_domain_upcasts(UpcasterRegistry())
    assert registry.registered() == upcasters.registered() == [("TopicClaimed", 1)]
    assert all(registry.latest_version(name) == cls.SCHEMA_VERSION for name, cls in ev.EVENT_TYPES.items())
    assert ev.TopicClaimed.SCHEMA_VERSION == 2 and ev.TopicProposed.SCHEMA_VERSION == 1
    monkeypatch.setattr(ev.ClaimConfirmed, "SCHEMA_VERSION", 2)  # bumped without an upcast
    with pytest.raises(RuntimeError, match="ClaimConfirmed"):
        register_domain_upcasts(UpcasterRegistry())


class _Collector:
    def __init__(self) -> None:
        self.events: list[NewEvent] = []

    async def append(self, stream_id, expected_version, events, connection=None) -> None:
        self.events.extend(events)


async def _claimed_topic(store, topic_id: str, shape) -> list[NewEvent]:
    """A topic proposed, published and claimed (CLAIMED), its TopicClaimed written by `shape(event)`."""
    collector = _Collector()
    await TopicDriver(collector, topic_id, "HQ/SX", claim_org="HQ/SX/TY/B1").walk(CLAIMED, at("2025-03-03"))
    events = [shape(e) if e.event_type == "TopicClaimed" else e for e in collector.events]
    await store.append(f"topic-{topic_id}", 0, events)
    return events


def as_v1(event: NewEvent) -> NewEvent:
    """What the writer recorded before v2: no claimant_name at all."""
    data = {k: v for k, v in event.data.items() if k != "claimant_name"}
    return NewEvent(event.event_id, event.event_type, data, event.metadata, event.occurred_at, schema_version=1)


async def test_a_stored_v1_topic_claimed_is_read_as_v2_everywhere_and_stays_v1_on_disk(event_store, pool,
                                                                                       database_url):
    await _claimed_topic(event_store, "OLD", as_v1)
    stored = await pool.fetchrow("SELECT schema_version, data, hash FROM events WHERE event_type = 'TopicClaimed'")
    assert stored["schema_version"] == 1 and "claimant_name" not in stored["data"]

    claimed = [e for e in await event_store.read_stream("topic-OLD") if e.event_type == "TopicClaimed"][0]
    assert claimed.schema_version == 2
    assert claimed.data["claimant_name"] == "branch of HQ/SX/TY/B1"  # the recording actor's name
    assert event_from_data("TopicClaimed", claimed.data).claimant_name == "branch of HQ/SX/TY/B1"
    everything = await event_store.read_all(Position.start(), 100)
    assert [e.schema_version for e in everything if e.event_type == "TopicClaimed"] == [2]
    assert [e.data for e in everything] == [e.data for e in await event_store.read_stream("topic-OLD")]

    raw = await event_store.read_stream("topic-OLD", raw=True)
    raw_claimed = [e for e in raw if e.event_type == "TopicClaimed"][0]
    assert (raw_claimed.schema_version, raw_claimed.data) == (1, dict(stored["data"]))
    assert [e.data for e in await event_store.read_all(Position.start(), 100, raw=True)] == [e.data for e in raw]
    assert verify_chain(raw) is None  # the hash chain holds over the stored rows
    assert verify_chain(await event_store.read_stream("topic-OLD")) == claimed.stream_version  # not upcast ones
    assert await verify_stream(pool, "topic-OLD") is None  # the audit reads raw rows
    after = await pool.fetchrow("SELECT schema_version, data, hash FROM events WHERE event_type = 'TopicClaimed'")
    assert after == stored  # reading changed nothing

    assert await Projector(pool).catch_up() == len(CLAIMED)  # the read models fold the v2 shape
    assert await pool.fetchval("SELECT claimed_by FROM topics WHERE topic_id = 'OLD'") == "HQ/SX/TY/B1"
    engine = create_read_engine(database_url)
    try:
        history = await TopicQueries(engine, pool).topic_history("OLD")
    finally:
        await engine.dispose()
    entry = next(h for h in history if h["type"] == "TopicClaimed")
    assert entry["data"]["claimant_name"] == "branch of HQ/SX/TY/B1"


async def test_v2_rows_are_read_as_written_and_a_foreign_recorder_gives_no_name(event_store, pool):
    def as_v2(event: NewEvent) -> NewEvent:  # what the writer records once it passes SCHEMA_VERSION
        data = {**event.data, "claimant_name": "周杰"}
        return NewEvent(event.event_id, event.event_type, data, event.metadata, event.occurred_at,
                        schema_version=ev.TopicClaimed.SCHEMA_VERSION)

    def recorded_by_someone_else(event: NewEvent) -> NewEvent:
        metadata = {**event.metadata, "actor": {"sub": "importer", "role": "admin", "org": "HQ", "name": "导入"}}
        return as_v1(NewEvent(event.event_id, event.event_type, event.data, metadata, event.occurred_at))

    await _claimed_topic(event_store, "NEW", as_v2)
    await _claimed_topic(event_store, "IMPORTED", recorded_by_someone_else)

    [new] = [e for e in await event_store.read_stream("topic-NEW") if e.event_type == "TopicClaimed"]
    assert (new.schema_version, new.data["claimant_name"]) == (2, "周杰")
    assert verify_chain(await event_store.read_stream("topic-NEW")) is None  # nothing to upcast: hashes hold
    [imported] = [e for e in await event_store.read_stream("topic-IMPORTED") if e.event_type == "TopicClaimed"]
    assert (imported.schema_version, imported.data["claimant_name"]) == (2, "")
    assert await Projector(pool).catch_up() == 2 * len(CLAIMED)
