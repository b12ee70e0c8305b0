"""Event store against a real PostgreSQL: appends, idempotency, conflicts, gap-free reads, hash chain."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import asyncpg
import pytest

from eventstore import (
    NOTIFY_CHANNEL,
    EventStore,
    EventStoreError,
    NewEvent,
    Position,
    RecordedEvent,
    StreamConflict,
    verify_chain,
)
from eventstore.hashing import canonical_bytes, recorded_hash
from migrations import to_sqlalchemy_url

T0 = datetime(2025, 3, 31, 16, 0, 0, 123456, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))


def ev(event_type: str = "Happened", data: dict | None = None, **kw) -> NewEvent:
    return NewEvent(
        event_id=kw.pop("event_id", None) or uuid4(),
        event_type=event_type,
        data={"n": 1} if data is None else data,
        metadata=kw.pop("metadata", {"actor": "u-1", "role": "admin"}),
        occurred_at=kw.pop("occurred_at", T0),
        **kw,
    )


async def drain(store: EventStore, after: Position, limit: int = 2) -> list[RecordedEvent]:
    """Everything ``read_all`` hands out from ``after``, paging like a projector."""
    seen: list[RecordedEvent] = []
    while batch := await store.read_all(after, limit):
        seen.extend(batch)
        after = batch[-1].position
    return seen


async def all_positions(pool: asyncpg.Pool) -> list[int]:
    return [r[0] for r in await pool.fetch("SELECT global_position FROM events ORDER BY global_position")]


# --- append / read ---------------------------------------------------------------------------------------


async def test_append_and_read_roundtrip(event_store: EventStore) -> None:
    batch = [
        ev("Created", {"title": "领题破题", "tags": ["a", "b"], "nested": {"x": [1, 2.5, None, True]}}),
        ev("Claimed", {"by": "u-2"}, occurred_at=T0.astimezone(CST), schema_version=2),
        ev("Noted", {}, metadata={}),
    ]
    result = await event_store.append("topic-1", 0, batch)
    assert result.stream_version == 3
    assert len(result.positions) == 3 and result.positions == sorted(result.positions)

    recorded = await event_store.read_stream("topic-1")
    assert [e.stream_version for e in recorded] == [1, 2, 3]
    assert [e.global_position for e in recorded] == result.positions
    for new, rec in zip(batch, recorded):
        assert rec.event_id == new.event_id
        assert rec.stream_id == "topic-1"
        assert rec.event_type == new.event_type
        assert rec.schema_version == new.schema_version
        assert rec.data == new.data
        assert rec.metadata == new.metadata
        assert rec.occurred_at == new.occurred_at
        assert rec.recorded_at.tzinfo is not None
        assert isinstance(rec.tx_id, int) and rec.tx_id > 0
        assert len(rec.hash) == 32
    assert recorded[0].prev_hash is None
    assert recorded[1].prev_hash == recorded[0].hash and recorded[2].prev_hash == recorded[1].hash
    assert len({e.tx_id for e in recorded}) == 1  # one transaction

    more = await event_store.append("topic-1", 3, [ev("Reported"), ev("Closed")])
    assert more.stream_version == 5 and more.positions[0] > result.positions[-1]
    assert await event_store.stream_version("topic-1") == 5
    tail = await event_store.read_stream("topic-1", from_version=4)
    assert [(e.stream_version, e.event_type) for e in tail] == [(4, "Reported"), (5, "Closed")]
    assert tail[0].prev_hash == recorded[2].hash

    assert await event_store.stream_version("nope") == 0
    assert await event_store.read_stream("nope") == []


async def test_invalid_arguments(event_store: EventStore) -> None:
    with pytest.raises(ValueError):
        await event_store.append("s", 0, [])
    with pytest.raises(ValueError):
        await event_store.append("s", -1, [ev()])
    with pytest.raises(ValueError):
        ev(occurred_at=datetime(2025, 1, 1))  # naive datetime
    with pytest.raises(ValueError):
        await event_store.append("s", 0, [ev(data={"x": float("nan")})])
    assert await event_store.stream_version("s") == 0


async def test_expected_version_conflict(event_store: EventStore, pool: asyncpg.Pool) -> None:
    await event_store.append("s", 0, [ev(), ev()])

    with pytest.raises(StreamConflict) as behind:
        await event_store.append("s", 1, [ev()])
    assert (behind.value.stream_id, behind.value.expected_version, behind.value.actual_version) == ("s", 1, 2)
    assert "'s'" in str(behind.value) and "expected version 1" in str(behind.value)
    assert "actual version 2" in str(behind.value)

    with pytest.raises(StreamConflict) as ahead:
        await event_store.append("s", 5, [ev()])
    assert ahead.value.actual_version == 2

    # A store without cached stream heads (another worker) behaves the same.
    other = EventStore(pool)
    with pytest.raises(StreamConflict):
        await other.append("s", 0, [ev()])
    assert (await other.append("s", 2, [ev()])).stream_version == 3
    # ... and the first store's cached head (version 2) is stale now: still a clean conflict.
    with pytest.raises(StreamConflict) as stale:
        await event_store.append("s", 2, [ev()])
    assert stale.value.actual_version == 3
    assert (await event_store.append("s", 3, [ev()])).stream_version == 4
    assert verify_chain(await event_store.read_stream("s")) is None


async def test_idempotent_retry_is_a_noop(event_store: EventStore, pool: asyncpg.Pool) -> None:
    first = [ev("A"), ev("B")]
    original = await event_store.append("s", 0, first)
    again = await event_store.append("s", 0, first)
    assert again == original

    second = [ev("C")]
    original_second = await event_store.append("s", 2, second)
    # Retries after the stream moved on, from this store and from a fresh one (activity on another worker).
    assert await event_store.append("s", 0, first) == original
    assert await EventStore(pool).append("s", 2, second) == original_second
    assert await EventStore(pool).append("s", 0, first) == original

    assert await event_store.stream_version("s") == 3
    assert len(await all_positions(pool)) == 3


async def test_same_version_different_content_conflicts(event_store: EventStore) -> None:
    batch = [ev("A", {"v": 1}), ev("B", {"v": 2})]
    await event_store.append("s", 0, batch)

    changed = [batch[0], dataclasses.replace(batch[1], data={"v": 3})]
    with pytest.raises(StreamConflict, match="different content"):
        await event_store.append("s", 0, changed)
    with pytest.raises(StreamConflict, match="different content"):
        await event_store.append("s", 0, [dataclasses.replace(batch[0], metadata={"actor": "someone else"})])
    with pytest.raises(StreamConflict, match="different content"):
        await event_store.append("s", 0, [dataclasses.replace(batch[0], event_type="Other")])
    with pytest.raises(StreamConflict):  # other events at the same versions
        await event_store.append("s", 0, [ev("A", {"v": 1}), ev("B", {"v": 2})])
    with pytest.raises(StreamConflict, match="already recorded as 's' version 1"):  # an id reused elsewhere
        await event_store.append("s", 2, [batch[0]])
    with pytest.raises(StreamConflict):  # a partial overlap of a recorded batch
        await event_store.append("s", 0, [batch[0], ev("B", {"v": 2})])
    with pytest.raises(StreamConflict):  # same event id, other stream
        await event_store.append("t", 0, [batch[0]])

    assert [e.data for e in await event_store.read_stream("s")] == [{"v": 1}, {"v": 2}]
    assert await event_store.stream_version("t") == 0


@pytest.mark.parametrize("expected", [0, 1])
async def test_concurrent_appends_one_winner(event_store: EventStore, pool: asyncpg.Pool, expected: int) -> None:
    if expected:
        await event_store.append("s", 0, [ev("Seed")])
    stores = [event_store, EventStore(pool)]  # with and without a cached stream head
    gate = asyncio.Event()

    async def contender(i: int):
        await gate.wait()
        return await stores[i % 2].append("s", expected, [ev("Race", {"i": i}), ev("Race2", {"i": i})])

    tasks = [asyncio.create_task(contender(i)) for i in range(20)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, StreamConflict) for o in losers), losers
    assert all(o.actual_version == expected + 2 for o in losers)
    assert winners[0].stream_version == expected + 2
    events = await event_store.read_stream("s")
    assert [e.stream_version for e in events] == list(range(1, expected + 3))
    assert len({e.data["i"] for e in events if e.event_type.startswith("Race")}) == 1
    assert verify_chain(events) is None


async def test_append_in_callers_transaction(event_store: EventStore, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction():
            await event_store.append("s", 0, [ev()], connection=conn)
            with pytest.raises(StreamConflict):  # the caller's transaction survives a conflict
                await event_store.append("s", 0, [ev()], connection=conn)
            assert await event_store.stream_version("s") == 0  # not committed yet
            await event_store.append("s", 1, [ev()], connection=conn)
        assert await event_store.stream_version("s") == 2

        tx = conn.transaction()
        await tx.start()
        await event_store.append("s", 2, [ev()], connection=conn)
        await tx.rollback()
    assert await event_store.stream_version("s") == 2
    assert (await event_store.append("s", 2, [ev()])).stream_version == 3


async def test_append_refuses_to_break_global_order(event_store: EventStore, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.fetchval("SELECT pg_current_xact_id()")  # this transaction's id is older ...
            await event_store.append("s", 0, [ev()])  # ... than the one that commits version 1
            with pytest.raises(EventStoreError, match="global order"):
                await event_store.append("s", 1, [ev()], connection=conn)


# --- gap-free global reads ---------------------------------------------------------------------------------


async def test_read_all_pages_in_order(event_store: EventStore) -> None:
    for i in range(5):
        await event_store.append(f"s{i % 2}", i // 2, [ev(data={"i": i})])
    seen = await drain(event_store, Position.start(), limit=2)
    assert [e.data["i"] for e in seen] == [0, 1, 2, 3, 4]
    assert await event_store.read_all(seen[-1].position, 10) == []
    assert await event_store.read_all(seen[1].position, 2) == seen[2:4]
    assert Position.start() == Position(0, 0) < seen[0].position


async def test_read_all_holds_back_behind_open_transaction(event_store: EventStore, pool: asyncpg.Pool) -> None:
    """A inserts first (lower position) and commits last; B commits in between."""
    await event_store.append("z", 0, [ev()])  # committed before anything else
    async with pool.acquire() as conn_a:
        tx_a = conn_a.transaction()
        await tx_a.start()
        res_a = await event_store.append("x", 0, [ev()], connection=conn_a)
        xid_a = await conn_a.fetchval("SELECT pg_current_xact_id()")
        res_b = await event_store.append("y", 0, [ev()])
        assert res_a.positions[0] < res_b.positions[0]

        # A global_position checkpoint would now pass x's position and skip x for good.
        naive = await pool.fetch("SELECT stream_id FROM events ORDER BY global_position")
        assert [r[0] for r in naive] == ["z", "y"]

        during = await drain(event_store, Position.start())
        assert [e.stream_id for e in during] == ["z"]
        assert all(e.tx_id < xid_a for e in during)
        checkpoint = during[-1].position
        assert await drain(event_store, checkpoint) == []
        await tx_a.commit()

    after = await drain(event_store, checkpoint)
    assert [e.stream_id for e in after] == ["x", "y"]
    everything = during + after
    assert sorted(e.global_position for e in everything) == await all_positions(pool)
    assert len({e.event_id for e in everything}) == len(everything)


async def test_read_all_lower_position_committing_later(event_store: EventStore, pool: asyncpg.Pool) -> None:
    """The nasty case: B holds the lower position but the higher xid, and commits after A."""
    async with pool.acquire() as conn_a, pool.acquire() as conn_b:
        tx_a, tx_b = conn_a.transaction(), conn_b.transaction()
        await tx_a.start()
        await tx_b.start()
        xid_a = await conn_a.fetchval("SELECT pg_current_xact_id()")  # A gets the lower xid ...
        res_b = await event_store.append("y", 0, [ev()], connection=conn_b)  # ... B the lower position
        res_a = await event_store.append("x", 0, [ev()], connection=conn_a)
        xid_b = await conn_b.fetchval("SELECT pg_current_xact_id()")
        assert xid_a < xid_b and res_b.positions[0] < res_a.positions[0]
        await tx_a.commit()

        during = await drain(event_store, Position.start())
        assert [e.stream_id for e in during] == ["x"]  # A is final: below xmin (= B's xid)
        checkpoint = during[-1].position
        # Ordering by global_position would resume after x's position and never see y (lower position).
        assert checkpoint.global_position > res_b.positions[0]
        await tx_b.commit()

    after = await drain(event_store, checkpoint)
    assert [e.stream_id for e in after] == ["y"]
    everything = during + after
    assert sorted(e.global_position for e in everything) == await all_positions(pool)
    assert len({e.event_id for e in everything}) == 2
    assert await drain(event_store, after[-1].position) == []


async def test_concurrent_writers_and_reader_see_each_event_once(event_store: EventStore, pool: asyncpg.Pool) -> None:
    seen: list[RecordedEvent] = []
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for v in range(10):
            await event_store.append(f"w{w}", 2 * v, [ev(data={"w": w, "v": v}), ev(data={"w": w, "v": v})])

    async def reader() -> None:
        after = Position.start()
        while True:
            finished = done.is_set()
            batch = await event_store.read_all(after, 7)
            seen.extend(batch)
            if batch:
                after = batch[-1].position
            elif finished:
                return
            else:
                await asyncio.sleep(0.001)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(6)))
    done.set()
    await asyncio.wait_for(reading, 30)
    assert len(seen) == 120
    assert sorted(e.global_position for e in seen) == await all_positions(pool)
    for w in range(6):  # per stream, versions arrive in order
        versions = [e.stream_version for e in seen if e.stream_id == f"w{w}"]
        assert versions == list(range(1, 21))


async def test_head_lag(event_store: EventStore) -> None:
    lag = await event_store.head_lag(Position.start())
    assert lag.events_behind == 0 and lag.oldest_unread_at is None
    await event_store.append("s", 0, [ev(), ev(), ev()])
    lag = await event_store.head_lag(Position.start())
    assert lag.events_behind == 3 and lag.oldest_unread_at is not None
    first = (await event_store.read_all(Position.start(), 1))[0]
    assert (await event_store.head_lag(first.position)).events_behind == 2


# --- hash chain, append-only, notify -----------------------------------------------------------------------


async def test_hash_chain_verifies_and_detects_tampering(event_store: EventStore) -> None:
    await event_store.append("s", 0, [ev("A", {"amount": 1.0, "big": 1e16, "tiny": 1.5e-07, "s": "领\n\"x\""})])
    await event_store.append("s", 1, [ev("B", {"list": [0.1, -0.0, 2**70]}), ev("C", {"k": {"b": 1, "a": 2}})])
    await event_store.append("s", 3, [ev("D", occurred_at=T0.astimezone(CST) + timedelta(days=400))])
    events = await event_store.read_stream("s")
    assert verify_chain(events) is None
    assert verify_chain(events[2:]) is None  # a suffix: its first prev_hash is taken on trust
    assert verify_chain([]) is None

    tampered = list(events)
    tampered[2] = dataclasses.replace(events[2], data={"k": {"b": 1, "a": 3}})
    assert verify_chain(tampered) == 3
    assert verify_chain([*events[:1], dataclasses.replace(events[1], occurred_at=T0 + timedelta(microseconds=1))]) == 2
    assert verify_chain([dataclasses.replace(events[0], metadata={"actor": "mallory"}), *events[1:]]) == 1
    # Re-hashing the tampered event does not help: the next link breaks.
    rehashed = dataclasses.replace(tampered[2], hash=recorded_hash(tampered[2]))
    assert verify_chain([*events[:2], rehashed, events[3]]) == 4
    assert verify_chain([events[0], events[1], events[3]]) == 3  # a deleted event
    assert verify_chain([dataclasses.replace(events[0], prev_hash=b"\0" * 32)]) == 1


async def test_canonical_encoding_is_documented_json(event_store: EventStore) -> None:
    await event_store.append("s", 0, [ev("A", {"é": 1.0, "a": [1, "ü"]}, metadata={"z": None, "b": True})])
    (event,) = await event_store.read_stream("s")
    document = {
        "data": {"a": [1, "ü"], "é": 1},
        "event_type": "A",
        "metadata": {"b": True, "z": None},
        "occurred_at": "2025-03-31T16:00:00.123456Z",
        "prev_hash": None,
        "schema_version": 1,
        "stream_id": "s",
        "stream_version": 1,
    }
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_bytes(
        stream_id="s", stream_version=1, event_type="A", schema_version=1, data=event.data,
        metadata=event.metadata, occurred_at=event.occurred_at, prev_hash=None,
    ) == expected
    assert event.hash == hashlib.sha256(expected).digest()


async def test_events_are_append_only(event_store: EventStore, pool: asyncpg.Pool) -> None:
    await event_store.append("s", 0, [ev()])
    for statement in (
        "UPDATE events SET data = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await pool.execute(statement)
    assert await event_store.stream_version("s") == 1


async def test_insert_notifies_listeners(event_store: EventStore, pool: asyncpg.Pool) -> None:
    received: asyncio.Queue[str] = asyncio.Queue()
    async with pool.acquire() as listener:
        def on_notify(_conn: object, _pid: int, channel: str, _payload: str) -> None:
            received.put_nowait(channel)

        await listener.add_listener(NOTIFY_CHANNEL, on_notify)
        try:
            await event_store.append("s", 0, [ev(), ev()])  # one statement, one notification
            assert await asyncio.wait_for(received.get(), 5) == NOTIFY_CHANNEL
        finally:
            await listener.remove_listener(NOTIFY_CHANNEL, on_notify)


def test_to_sqlalchemy_url() -> None:
    socket_url = "postgresql://postgres:@/lingti?host=/tmp/lingti-pg-x/data"
    assert to_sqlalchemy_url(socket_url) == "postgresql+asyncpg://postgres:@/lingti?host=/tmp/lingti-pg-x/data"
    assert to_sqlalchemy_url("postgres://u:p@h:5432/db") == "postgresql+asyncpg://u:p@h:5432/db"
    assert to_sqlalchemy_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_sqlalchemy_url("postgresql://u@h/db?sslmode=require&x=1") == "postgresql+asyncpg://u@h/db?ssl=require&x=1"
    with pytest.raises(ValueError):
        to_sqlalchemy_url("mysql://u@h/db")
