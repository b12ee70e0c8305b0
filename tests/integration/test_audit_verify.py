"""Tamper evidence against a real PostgreSQL: `verify_log` and `lingti audit verify`, anchors, the append-only
triggers, and the `lingti_app` role the application runs as in production.

Tampering is done the way a superuser could: `ALTER TABLE … DISABLE TRIGGER USER`, change rows, re-enable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest

from domain import Context, decide, evolve, initial_state
from eventstore import EventStore, NewEvent, RecordedEvent, create_pool, hashing, verify_chain
from eventstore.audit import heads_digest, list_anchors, record_anchor, verify_log, verify_stream
from eventstore.hashing import canonical_json, canonical_json_from_text
from projections import Projector
from projections.base import TOPIC_STREAM_PREFIX
from tests.factories import lifecycle

# Seeded history is written under ruleset 1 (approval concludes at once), like topics started before
# 四方评价 and 公示 existed; ruleset 2's conclusion path is covered by the workflow and e2e tests.
HISTORY_RULES = 1

T0 = dt.datetime(2026, 3, 1, 9, 30, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DAY1, DAY2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
TRICKY = {"amount": 1.0, "big": 1e16, "tiny": 1.5e-07, "neg": -0.0, "huge": 2**70, "f": 0.1, "e": 1e300,
          "s": "领题\n\"破题\"\t\x01\\", "nested": {"b": [1, 2.5, None, True], "a": {"é": "ü"}}, "empty": {}}


def ev(event_type: str = "Happened", data: dict | None = None, i: int = 0) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(), event_type=event_type, data={"n": i} if data is None else data,
        metadata={"actor": {"sub": "u-1", "role": "admin", "org": "HQ", "name": "管理员"}, "correlation_id": "c"},
        occurred_at=T0 + dt.timedelta(minutes=i),
    )


def topic_events(topic_id: str) -> list[NewEvent]:
    """A topic's whole lifecycle (点题 … 结题), decided by the real decider."""
    state, events = initial_state, []
    now = dt.datetime.now(dt.timezone.utc)
    for step, (command, actor) in enumerate(lifecycle(topic_id)):
        when = now + dt.timedelta(minutes=step)
        for event in decide(state, command, Context(actor=actor, now=when, rules=HISTORY_RULES)):
            state = evolve(state, event)
            events.append(NewEvent(
                event_id=uuid.uuid4(), event_type=event.event_type, data=event.to_data(),
                metadata={"actor": actor.model_dump(mode="json"), "correlation_id": f"req-{step}"},
                occurred_at=when,
            ))
    return events


async def raw_stream(pool: asyncpg.Pool, stream_id: str) -> list[RecordedEvent]:
    """The stream's rows exactly as stored (no upcasting), for ``verify_chain``."""
    rows = await pool.fetch(
        "SELECT global_position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata,"
        " occurred_at, recorded_at, tx_id, prev_hash, hash FROM events WHERE stream_id = $1 ORDER BY stream_version",
        stream_id,
    )
    return [RecordedEvent(*row) for row in rows]


async def seed(store: EventStore) -> dict[str, int]:
    """Several streams of different shapes; returns {stream_id: version}."""
    await store.append("s-a", 0, [ev("A", TRICKY), ev("B", {"list": [0.1, -0.0, 2**70]}, 1)])
    await store.append("s-a", 2, [ev("C", {"k": {"b": 1, "a": 2}}, 2)])
    for batch in range(3):
        await store.append("s-b", batch * 2, [ev("Tick", None, batch * 2), ev("Tock", None, batch * 2 + 1)])
    await store.append("s-c", 0, [ev("Only")])
    topic = topic_events("T-AUDIT1")
    await store.append(TOPIC_STREAM_PREFIX + "T-AUDIT1", 0, topic)
    return {"s-a": 3, "s-b": 6, "s-c": 1, TOPIC_STREAM_PREFIX + "T-AUDIT1": len(topic)}


async def tamper(pool: asyncpg.Pool, *statements: str) -> None:
    """Change rows the way a superuser could: with the user triggers off for a moment."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        await conn.execute("ALTER TABLE audit_anchors DISABLE TRIGGER USER")
        for statement in statements:
            await conn.execute(statement)
        await conn.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only")
        await conn.execute("ALTER TABLE events ENABLE TRIGGER events_notify")
        await conn.execute("ALTER TABLE audit_anchors ENABLE ALWAYS TRIGGER audit_anchors_append_only")


def run_lingti(database_url: str, *args: str, cwd: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")}
    return subprocess.run(  # production mode, no JWT secret: the audit needs only the database
        [sys.executable, "-m", "lingti", *args], env={**clean, "LINGTI_DATABASE_URL": database_url, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )


async def lingti(database_url: str, *args: str, cwd: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(run_lingti, database_url, *args, cwd=cwd)


# --- a clean log -----------------------------------------------------------------------------------------


async def test_verify_passes_on_a_clean_log(event_store: EventStore, pool: asyncpg.Pool, database_url: str,
                                            tmp_path) -> None:
    streams = await seed(event_store)
    assert await record_anchor(pool, DAY1)
    await event_store.append("s-c", 1, [ev("Later", None, 9)])  # the log moves on after an anchor
    report = await verify_log(pool, fetch_size=4)  # small batches: streams span fetches
    assert report.ok, report.breaks
    assert (report.streams, report.events, report.anchors) == (len(streams), sum(streams.values()) + 1, 1)
    assert report.first_break is None and "intact" in report.summary()
    for stream_id in streams:
        scoped = await verify_log(pool, stream_id)
        assert scoped.ok and scoped.streams == 1 and scoped.anchors == 1
        assert await verify_stream(pool, stream_id) is None
    # The raw-row check agrees with verify_chain over the decoded events.
    for stream_id in streams:
        assert verify_chain(await raw_stream(pool, stream_id)) is None

    result = await lingti(database_url, "audit", "verify", cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"log intact: 4 streams, {report.events} events, 1 anchors in ")
    assert "events/s" in lines[0]


async def test_verify_of_an_empty_log_and_an_unknown_topic(pool: asyncpg.Pool, database_url: str, tmp_path) -> None:
    report = await verify_log(pool)
    assert report.ok and (report.streams, report.events, report.anchors) == (0, 0, 0)
    result = await lingti(database_url, "audit", "verify", "--topic", "T-NOPE", cwd=str(tmp_path))
    assert result.returncode == 2 and "no events and no anchors for stream topic-T-NOPE" in result.stderr


async def test_canonical_json_from_text_equals_the_decoded_encoding(pool: asyncpg.Pool, monkeypatch) -> None:
    """jsonb's text output, re-encoded in one pass, gives the bytes the append hashed (floats included)."""
    rng = random.Random(7)

    def value(depth: int = 0):
        kind = rng.randrange(9 if depth < 3 else 6)
        if kind == 0:
            return rng.choice([0.1, 1.0, -0.0, 1e16, 1e-7, 123456.789, 2.5e-300, 1e300, rng.uniform(-1e6, 1e6)])
        if kind == 1:
            return rng.choice([0, -1, 2**53 + 1, 2**70, rng.randrange(-10**9, 10**9)])
        if kind == 2:
            return "".join(rng.choice("aé领\n\"\\\x01\x1f\u2028😀 ") for _ in range(rng.randrange(6)))
        if kind in (3, 4, 5):
            return rng.choice([True, False, None, ""])
        if kind in (6, 7):
            return {"".join(rng.choice("abé领Z_") for _ in range(rng.randrange(1, 4))): value(depth + 1)
                    for _ in range(rng.randrange(4))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    values = [{"v": value()} for _ in range(500)]
    texts = await pool.fetch("SELECT v::jsonb::text FROM unnest($1::text[]) AS v", [json.dumps(v) for v in values])
    for original, (text,) in zip(values, texts, strict=True):
        assert canonical_json_from_text(text) == canonical_json(original), (original, text)
    monkeypatch.setattr(hashing, "_codec", None)  # the plain json.loads path (no C scanner) agrees too
    for original, (text,) in zip(values[:50], texts[:50], strict=True):
        assert canonical_json_from_text(text) == canonical_json(original)
    with pytest.raises(ValueError):
        canonical_json_from_text('{"a": 1} x')


# --- tampering -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "version", "reason"),
    [
        ("UPDATE events SET data = jsonb_set(data, '{n}', '99') WHERE stream_id = 's-b' AND stream_version = 3",
         3, "hash does not match"),
        ("UPDATE events SET metadata = '{\"actor\": \"mallory\"}' WHERE stream_id = 's-b' AND stream_version = 4",
         4, "hash does not match"),
        ("UPDATE events SET occurred_at = occurred_at + interval '1 microsecond'"
         " WHERE stream_id = 's-b' AND stream_version = 2", 2, "hash does not match"),
        ("UPDATE events SET event_type = 'Tock' WHERE stream_id = 's-b' AND stream_version = 5",
         5, "hash does not match"),
        ("UPDATE events SET schema_version = 2 WHERE stream_id = 's-b' AND stream_version = 1",
         1, "hash does not match"),
        ("DELETE FROM events WHERE stream_id = 's-b' AND stream_version = 4", 4, "version 4 is missing"),
        ("DELETE FROM events WHERE stream_id = 's-b' AND stream_version IN (1, 2)", 1, "versions 1 to 2 are missing"),
        ("UPDATE events SET prev_hash = (SELECT hash FROM events WHERE stream_id = 's-a' AND stream_version = 1)"
         " WHERE stream_id = 's-b' AND stream_version = 6", 6, "prev_hash is not the hash of version 5"),
        ("UPDATE events SET stream_id = 's-b', stream_version = 7,"
         " prev_hash = (SELECT hash FROM events WHERE stream_id = 's-b' AND stream_version = 6)"
         " WHERE stream_id = 's-c'", 7, "hash does not match"),
    ],
    ids=["data", "metadata", "occurred_at", "event_type", "schema_version", "deleted", "deleted-head",
         "prev_hash", "moved"],
)
async def test_a_changed_event_is_caught_and_located(
    event_store: EventStore, pool: asyncpg.Pool, statement: str, version: int, reason: str
) -> None:
    await seed(event_store)
    await tamper(pool, statement)
    report = await verify_log(pool)
    assert not report.ok
    assert report.breaks_total == 1, report.breaks  # one stream broken; the others still verify
    first = report.first_break
    assert (first.stream_id, first.version, first.anchor_date) == ("s-b", version, None)
    assert reason in first.reason
    assert f"stream s-b, version {version}: " in str(first)
    assert (await verify_stream(pool, "s-b")) == first
    assert (await verify_log(pool, "s-a")).ok


async def test_verify_cli_names_the_broken_stream_and_exits_1(event_store: EventStore, pool: asyncpg.Pool,
                                                              database_url: str, tmp_path) -> None:
    streams = await seed(event_store)
    topic_stream = TOPIC_STREAM_PREFIX + "T-AUDIT1"
    await tamper(pool, f"UPDATE events SET data = data || '{{\"title\": \"篡改\"}}'"
                       f" WHERE stream_id = '{topic_stream}' AND stream_version = 2")
    result = await lingti(database_url, "audit", "verify", cwd=str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"BROKEN stream {topic_stream}, version 2: hash does not match the event's content" in result.stdout
    assert "log BROKEN: 1 break in 4 streams" in result.stdout

    scoped = await lingti(database_url, "audit", "verify", "--topic", "T-AUDIT1", "--json", cwd=str(tmp_path))
    assert scoped.returncode == 1
    answer = json.loads(scoped.stdout)
    assert answer["ok"] is False and answer["events"] == streams[topic_stream]
    assert answer["breaks"] == [{"stream_id": topic_stream, "version": 2, "anchor_date": None,
                                 "reason": "hash does not match the event's content"}]
    assert (await lingti(database_url, "audit", "verify", "--stream", "s-a", cwd=str(tmp_path))).returncode == 0


async def test_rewritten_and_rehashed_history_is_caught_by_an_anchor(event_store: EventStore,
                                                                     pool: asyncpg.Pool) -> None:
    """Re-hashing the rest of the stream mends the chain; only an anchor taken before still tells."""
    await seed(event_store)
    assert await record_anchor(pool, DAY1)
    original = await raw_stream(pool, "s-b")
    # Rewrite s-b from version 3 on with different data, hashing it all anew (as an attacker with the code could).
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        await conn.execute("DELETE FROM events WHERE stream_id = 's-b' AND stream_version >= 3")
        await conn.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only")
        await conn.execute("ALTER TABLE events ENABLE TRIGGER events_notify")
    forged = [ev(e.event_type, {"n": 1000 + e.data["n"]}, e.data["n"]) for e in original[2:]]
    await EventStore(pool).append("s-b", 2, forged)
    assert verify_chain(await raw_stream(pool, "s-b")) is None  # the chain alone looks fine

    report = await verify_log(pool)
    assert report.breaks_total == 1, report.breaks
    first = report.first_break
    assert (first.anchor_date, first.stream_id, first.version) == (DAY1, "s-b", 6)
    assert "anchor recorded" in first.reason and "history was rewritten" in first.reason
    assert str(first).startswith("anchor 2026-03-01, stream s-b, version 6: the hash of version 6 is ")


async def test_a_deleted_stream_is_caught_by_an_anchor(event_store: EventStore, pool: asyncpg.Pool, database_url: str,
                                                       tmp_path) -> None:
    streams = await seed(event_store)
    assert await record_anchor(pool, DAY1)
    await event_store.append("s-a", 3, [ev("D", None, 3)])
    assert await record_anchor(pool, DAY2)
    topic_stream = TOPIC_STREAM_PREFIX + "T-AUDIT1"
    await tamper(pool, f"DELETE FROM events WHERE stream_id = '{topic_stream}'",
                 "DELETE FROM events WHERE stream_id = 's-a' AND stream_version = 4")

    report = await verify_log(pool)
    assert (report.streams, report.anchors) == (len(streams) - 1, 2)
    assert [(b.anchor_date, b.stream_id, b.version) for b in report.breaks] == [
        (DAY1, topic_stream, streams[topic_stream]),  # reported once, at the first anchor that names it
        (DAY2, "s-a", 4),
    ]
    assert report.breaks[0].reason.startswith(
        f"the stream is missing: the anchor recorded it at version {streams[topic_stream]} (")
    assert report.breaks[1].reason == "the stream ends at version 3, the anchor recorded version 4"

    result = await lingti(database_url, "audit", "verify", cwd=str(tmp_path))
    assert result.returncode == 1
    assert f"BROKEN anchor 2026-03-01, stream {topic_stream}, version {streams[topic_stream]}: the stream is missing" \
        in result.stdout
    scoped = await lingti(database_url, "audit", "verify", "--topic", "T-AUDIT1", cwd=str(tmp_path))
    assert scoped.returncode == 1 and "the stream is missing" in scoped.stdout


# --- anchors ---------------------------------------------------------------------------------------------


async def test_anchor_is_idempotent_per_day_and_insert_only(event_store: EventStore, pool: asyncpg.Pool,
                                                             database_url: str, tmp_path) -> None:
    streams = await seed(event_store)
    assert await record_anchor(pool, DAY1) is True
    await event_store.append("s-c", 1, [ev("Later", None, 9)])
    assert await record_anchor(pool, DAY1) is False  # the day keeps its first anchor
    row = await pool.fetchrow("SELECT * FROM audit_anchors")
    heads = json.loads(row["heads"]) if isinstance(row["heads"], str) else row["heads"]
    assert heads["s-c"][0] == 1 and set(heads) == set(streams)
    assert (row["streams"], row["events"]) == (len(streams), sum(streams.values()))
    heads_by_stream = {s: (await raw_stream(pool, s))[v - 1].hash.hex() for s, v in streams.items()}
    assert heads == {s: [streams[s], h] for s, h in heads_by_stream.items()}
    document = json.dumps(heads, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert row["heads_digest"] == heads_digest(heads) == hashlib.sha256(document).digest()

    # Two projectors racing for the same day: exactly one anchor.
    assert sorted(await asyncio.gather(*(record_anchor(pool, DAY2) for _ in range(5)))) == [False] * 4 + [True]
    assert [a.anchor_date for a in await list_anchors(pool)] == [DAY1, DAY2]

    for statement in ("UPDATE audit_anchors SET events = 0", "DELETE FROM audit_anchors", "TRUNCATE audit_anchors"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="audit_anchors is append-only"):
            await pool.execute(statement)

    listed = await lingti(database_url, "audit", "anchors", cwd=str(tmp_path))
    assert listed.returncode == 0 and row["heads_digest"].hex() in listed.stdout
    again = await lingti(database_url, "audit", "anchor", "--date", "2026-03-01", cwd=str(tmp_path))
    assert again.returncode == 0 and "anchor 2026-03-01 already recorded" in again.stdout


async def test_a_forged_anchor_is_caught(event_store: EventStore, pool: asyncpg.Pool) -> None:
    await seed(event_store)
    assert await record_anchor(pool, DAY1)
    await tamper(pool, "UPDATE audit_anchors SET heads = heads - 's-c', streams = streams - 1, events = events - 1")
    report = await verify_log(pool)
    assert [(b.anchor_date, b.stream_id, b.reason) for b in report.breaks] == [
        (DAY1, None, "heads_digest does not match the recorded heads")]
    await tamper(pool, "UPDATE audit_anchors SET events = 1")
    reasons = [b.reason for b in (await verify_log(pool)).breaks]
    assert any("records 3 streams and 1 events" in r for r in reasons)


# --- triggers and roles ----------------------------------------------------------------------------------


async def test_the_trigger_rejects_changes_from_the_applications_connection(event_store: EventStore,
                                                                            pool: asyncpg.Pool) -> None:
    """The app's pool (here the superuser `postgres`, as in dev and tests) cannot change or remove events."""
    await seed(event_store)
    for statement in ("UPDATE events SET data = '{}'", "DELETE FROM events WHERE stream_id = 's-a'",
                      "TRUNCATE events", "UPDATE events SET data = data WHERE false"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="events is append-only"):
            await pool.execute(statement)
    async with pool.acquire() as conn, conn.transaction():  # replica mode silences ordinary triggers, not these
        await conn.execute("SET LOCAL session_replication_role = replica")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM events")
    assert (await verify_log(pool)).ok


@pytest.fixture
async def app_pool(database_url: str, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """A pool logged in as a fresh login role that is only a member of `lingti_app` (production's shape)."""
    role = f"lingti_app_test_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'test-only' IN ROLE lingti_app")
    parts = urlsplit(database_url)
    netloc = f"{quote(role)}:test-only@{parts.netloc.rpartition('@')[2]}"
    app = await create_pool(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
                            min_size=1, max_size=4)
    try:
        assert await app.fetchval("SELECT current_user") == role
        assert not await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        yield app
    finally:
        await app.close()
        await pool.execute(f"DROP ROLE {role}")


async def test_the_app_role_appends_but_cannot_change_or_unguard_the_log(app_pool: asyncpg.Pool,
                                                                         pool: asyncpg.Pool) -> None:
    store = EventStore(app_pool)
    streams = await seed(store)  # appends work
    assert await record_anchor(app_pool, DAY1)  # so does the daily anchor
    assert await Projector(app_pool).catch_up() == sum(streams.values())  # and the projector's read models
    assert await app_pool.fetchval("SELECT status FROM topics WHERE topic_id = 'T-AUDIT1'") == "concluded"
    report = await verify_log(app_pool)
    assert report.ok and report.anchors == 1

    for statement in ("UPDATE events SET data = '{}'", "DELETE FROM events", "TRUNCATE events",
                      "UPDATE audit_anchors SET events = 0", "DELETE FROM audit_anchors", "TRUNCATE audit_anchors",
                      "DELETE FROM alembic_version"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await app_pool.execute(statement)
    for statement in ("ALTER TABLE events DISABLE TRIGGER ALL", "ALTER TABLE events DISABLE TRIGGER events_append_only",
                      "DROP TRIGGER events_append_only ON events", "DROP TABLE events",
                      "ALTER TABLE audit_anchors DISABLE TRIGGER USER", "DROP FUNCTION lingti_events_append_only()",
                      "CREATE TRIGGER sneaky BEFORE INSERT ON events"
                      " FOR EACH ROW EXECUTE FUNCTION lingti_append_only()"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner|permission denied"):
            await app_pool.execute(statement)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await app_pool.execute("SET session_replication_role = replica")

    assert await pool.fetchval(  # the guard is still there, still ALWAYS
        "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'events_append_only'") == "A"
    assert (await verify_log(pool)).ok



async def test_parallel_workers_give_the_same_report(event_store: EventStore, pool: asyncpg.Pool,
                                                     database_url: str, tmp_path) -> None:
    for i in range(40):
        await event_store.append(f"p-{i:02d}", 0, [ev("P", None, n) for n in range(1 + i % 5)])
    streams = await seed(event_store)
    assert await record_anchor(pool, DAY1)
    await tamper(pool, "UPDATE events SET data = '{\"n\": 7}' WHERE stream_id = 'p-13' AND stream_version = 2",
                 "DELETE FROM events WHERE stream_id = 'p-31' AND stream_version = 1",
                 "DELETE FROM events WHERE stream_id = 's-c'")
    single = await verify_log(pool)
    parallel = await verify_log(pool, workers=3, dsn=database_url)
    assert (parallel.streams, parallel.events, parallel.anchors) == (single.streams, single.events, 1)
    assert single.streams == 40 + len(streams) - 1
    assert parallel.breaks == single.breaks and parallel.breaks_total == single.breaks_total == 3
    assert [(b.stream_id, b.version, b.anchor_date) for b in parallel.breaks] == [
        ("p-13", 2, None), ("p-31", 1, None), ("s-c", 1, DAY1)]
    capped = await verify_log(pool, workers=2, dsn=database_url, max_breaks=1)
    assert capped.breaks == single.breaks[:1] and capped.breaks_total == 3
    with pytest.raises(ValueError, match="dsn"):
        await verify_log(pool, workers=2)

    result = await lingti(database_url, "audit", "verify", "--workers", "2", cwd=str(tmp_path))
    assert result.returncode == 1 and result.stdout.startswith("BROKEN stream p-13, version 2: hash does not match")
