"""Event store wake-ups and pooled connections: NOTIFY after commit (coalesced), and the skipped pool reset."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from uuid import uuid4

import asyncpg
import pytest

from eventstore import NOTIFY_CHANNEL, EventStore, NewEvent, create_pool, verify_chain

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)

# What migration 0009 (notify after commit) makes of the trigger function; applied here as well, so the tests
# hold with and without it.
_QUIET_TRIGGER = """
CREATE OR REPLACE FUNCTION lingti_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('lingti.notify', true) IS DISTINCT FROM 'client' THEN
        PERFORM pg_notify('lingti_events', '');
    END IF;
    RETURN NULL;
END
$$
"""


def ev(n: int = 1) -> NewEvent:
    return NewEvent(event_id=uuid4(), event_type="Happened", data={"n": n}, metadata={"actor": "u-1"},
                    occurred_at=T0)


class Listener:
    def __init__(self) -> None:
        self.received: asyncio.Queue[int] = asyncio.Queue()

    def __call__(self, _conn: object, pid: int, _channel: str, _payload: str) -> None:
        self.received.put_nowait(pid)

    async def drain(self, settle: float = 0.3) -> list[int]:
        await asyncio.sleep(settle)
        pids = []
        while not self.received.empty():
            pids.append(self.received.get_nowait())
        return pids


@pytest.fixture
async def listener(database_url: str):
    conn = await asyncpg.connect(database_url)
    listen = Listener()
    await conn.add_listener(NOTIFY_CHANNEL, listen)
    try:
        yield listen
    finally:
        await conn.close()


@pytest.mark.parametrize("quiet_trigger", [False, True])
async def test_appends_wake_listeners(
    event_store: EventStore, pool: asyncpg.Pool, listener: Listener, quiet_trigger: bool
) -> None:
    if quiet_trigger:
        await pool.execute(_QUIET_TRIGGER)
    await event_store.append("s", 0, [ev()])
    await event_store.flush_notifications()
    # Exactly one wake-up: from the trigger (old trigger) or from the store after the commit (quiet trigger).
    assert len(await listener.drain()) == 1

    # Many concurrent appends: listeners are woken after the last commit (coalesced or not).
    results = await asyncio.gather(*(event_store.append(f"c{i}", 0, [ev(i), ev(i)]) for i in range(20)))
    await event_store.flush_notifications()
    assert all(r.stream_version == 2 for r in results)
    assert await listener.drain()


async def test_quiet_trigger_still_notifies_other_writers(
    event_store: EventStore, pool: asyncpg.Pool, listener: Listener
) -> None:
    await pool.execute(_QUIET_TRIGGER)
    await event_store.append("s", 0, [ev()])
    await event_store.flush_notifications()
    await listener.drain()

    async with pool.acquire() as conn, conn.transaction():  # an append in the caller's transaction
        await event_store.append("s", 1, [ev()], connection=conn)
    assert await asyncio.wait_for(listener.received.get(), 5)

    # A statement that sets the quiet flag stays quiet: the flag is local to its own transaction.
    await pool.execute("SELECT set_config('lingti.notify', 'client', true)")
    await pool.execute("INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata,"
                       " occurred_at, prev_hash, hash) VALUES ('x', 1, gen_random_uuid(), 'Raw', '{}', '{}',"
                       " now(), NULL, '\\x00')")
    assert await asyncio.wait_for(listener.received.get(), 5)
    assert verify_chain(await event_store.read_stream("s")) is None


async def test_store_connections_skip_the_reset_round_trip(database_url: str) -> None:
    queries: list[str] = []

    async def log_queries(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda record: queries.append(record.query))

    pool = await create_pool(database_url, min_size=1, max_size=1, init=log_queries)
    store = EventStore(pool)
    try:
        def resets() -> int:
            return sum("pg_advisory_unlock_all" in q for q in queries)

        # The store's appends and reads release their connection without the reset query ...
        await store.append("s", 0, [ev()])
        for version in range(1, 10):
            await store.append("s", version, [ev(version)])
            assert len(await store.read_stream("s", version)) == 2
        await store.flush_notifications()
        assert await store.stream_version("s") == 10
        assert resets() == 0

        # ... while an ordinary pool user's session state is still reset on release.
        async with pool.acquire() as conn:
            await conn.execute("SET application_name = 'dirty'")
            assert await conn.fetchval("SELECT pg_try_advisory_lock(42)")
        assert resets() == 1
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") != "dirty"
            assert not await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        await store.append("s", 10, [ev()])
        assert resets() == 2  # the reads above were an ordinary user's: reset once more, then the store's: none
        assert verify_chain(await store.read_stream("s")) is None
    finally:
        await pool.close()
