"""A projector to trust, against a real PostgreSQL: real `lingti projector` processes killed with SIGKILL, two of
them at once, blue/green rebuilds under concurrent readers, lag behind a long transaction, /v1/health, /metrics.

Every checkpoint move is recorded by a trigger the tests install (`batch_log`: the projection, the position the
batch started after and ended at, and who applied it), written in the batch's own transaction: a batch rolled
back by a kill leaves no row, a batch applied twice would leave two rows starting at the same position.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import structlog
from fastapi import FastAPI

from api.routes import health as health_route
from api.routes import metrics as metrics_route
from eventstore import EventStore, create_pool
from projections import Projector, TopicListProjection, checkpoints, rebuild
from projections import status as status_module
from projections.engine import create_read_engine
from projections.leadership import leaders
from projections.queries import TopicQueries
from projections.read_models import default_projections
from projections.runner import DailyAnchor
from projections.status import projection_status
from tests.integration.test_projections import FULL_LIFE, OPEN, STEPS, TopicDriver, at, dump

NAMES = sorted(p.name for p in default_projections())  # topic_completion, topic_control, topic_list

_BATCH_LOG = """
CREATE TABLE batch_log (
    id         bigserial PRIMARY KEY,
    projection text NOT NULL,
    from_tx    bigint NOT NULL, from_pos bigint NOT NULL,
    to_tx      bigint NOT NULL, to_pos   bigint NOT NULL,
    applied_by text,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION log_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO batch_log (projection, from_tx, from_pos, to_tx, to_pos, applied_by)
    VALUES (NEW.name, OLD.tx_id, OLD.global_position, NEW.tx_id, NEW.global_position, NEW.applied_by);
    RETURN NEW;
END $$;
CREATE TRIGGER log_batch AFTER UPDATE ON projection_checkpoints FOR EACH ROW
    WHEN ((OLD.tx_id, OLD.global_position) IS DISTINCT FROM (NEW.tx_id, NEW.global_position))
    EXECUTE FUNCTION log_batch();
"""

GATE = 424242
_GATED_ROWS = f"""
CREATE FUNCTION gated_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock_shared({GATE}); RETURN NEW; END $$;
CREATE TRIGGER gated_rows BEFORE INSERT OR UPDATE ON topics FOR EACH ROW EXECUTE FUNCTION gated_row();
"""


# --- helpers -------------------------------------------------------------------------------------


class _Collector:
    """Stands in for the store while a TopicDriver decides, so a topic's whole life is one append."""

    def __init__(self) -> None:
        self.events: list = []

    async def append(self, stream_id, expected_version, events, connection=None) -> None:
        self.events.extend(events)


async def seed_bulk(store: EventStore, count: int, prefix: str, steps=FULL_LIFE, parallel: int = 8) -> int:
    """`count` topics through `steps` (decided by the real decider), one append (one transaction) per topic."""

    async def one(i: int) -> int:
        collector = _Collector()
        driver = TopicDriver(collector, f"{prefix}{i:05d}", "HQ/SX", claim_org="HQ/SX/TY/B1")
        await driver.walk(steps, at("2025-01-06") + dt.timedelta(minutes=i))
        await store.append(f"topic-{driver.topic_id}", 0, collector.events)
        return len(collector.events)

    total = 0
    for start in range(0, count, parallel):
        total += sum(await asyncio.gather(*(one(i) for i in range(start, min(start + parallel, count)))))
    return total


async def install_batch_log(pool: asyncpg.Pool) -> None:
    await pool.execute(_BATCH_LOG)


async def batch_chain(pool: asyncpg.Pool, name: str) -> list[asyncpg.Record]:
    """The batches applied to `name`, checked to be one unbroken chain from position 0 without repeats."""
    rows = await pool.fetch("SELECT * FROM batch_log WHERE projection = $1 AND applied_by NOT LIKE 'rebuild:%' "
                            "ORDER BY id", name)
    starts = Counter((r["from_tx"], r["from_pos"]) for r in rows)
    assert not [s for s, n in starts.items() if n > 1], f"{name}: a batch was applied twice"
    previous = (0, 0)
    for r in rows:
        assert (r["from_tx"], r["from_pos"]) == previous, f"{name}: batch {r['id']} does not follow its predecessor"
        previous = (r["to_tx"], r["to_pos"])
    return rows


async def wait_until(predicate, timeout: float = 20, interval: float = 0.02, what: str = "condition"):
    """Poll until `predicate()` is truthy; returns its value."""
    started = time.monotonic()
    while not (value := await predicate()):
        assert time.monotonic() - started < timeout, f"{what} not reached within {timeout} s"
        await asyncio.sleep(interval)
    return value


async def caught_up(pool: asyncpg.Pool) -> bool:
    status = await projection_status(pool)
    return len(status) == len(NAMES) and all(s["events_behind"] == 0 for s in status)


class ProjectorProcess:
    """`python -m lingti projector` as production runs it, in its own process."""

    def __init__(self, database_url: str, log_dir: Path, label: str, batch_size: int = 50) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")}
        env.update(LINGTI_MODE="production", LINGTI_DATABASE_URL=database_url,
                   LINGTI_JWT_SECRET="projector-test-secret-" + "x" * 32, LINGTI_LOG_LEVEL="info",
                   LINGTI_PROJECTOR_BATCH_SIZE=str(batch_size))
        self.log_path = log_dir / f"{label}.log"
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen([sys.executable, "-m", "lingti", "projector"], env=env, cwd=log_dir,
                                         stdout=subprocess.DEVNULL, stderr=log_file)
        self.pid = self.proc.pid

    def owns(self, identity: str | None) -> bool:
        """Whether an `applied_by` / application_name names this process (`host:pid:nonce`)."""
        return identity is not None and f":{self.pid}:" in identity

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def spawn(database_url: str, tmp_path: Path) -> Iterator:
    started: list[ProjectorProcess] = []

    def start(label: str, batch_size: int = 50) -> ProjectorProcess:
        process = ProjectorProcess(database_url, tmp_path, label, batch_size)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.kill()


async def leading(pool: asyncpg.Pool) -> dict[str, str | None]:
    return {name: holder["application_name"] for name, holder in (await leaders(pool, NAMES)).items()}


# --- kill -9 during a batch ------------------------------------------------------------------------


async def test_kill_9_during_a_batch_then_restart_gives_the_rows_of_a_rebuild(event_store, pool, spawn):
    await install_batch_log(pool)
    total = await seed_bulk(event_store, 300, "K")  # 3,600 events, batches of 50: ~70 transactions each

    await pool.execute(_GATED_ROWS)  # writing a topics row waits while the test holds the gate

    first = spawn("first")
    await wait_until(lambda: _batches(pool, 3), what="the first batches")
    async with pool.acquire() as gate:
        await gate.execute(f"SELECT pg_advisory_lock({GATE})")  # the next topics batch stops mid-transaction
        in_batch = await wait_until(lambda: _waiting_at_gate(pool, first), what="a batch waiting at the gate")
        first.kill()
        await gate.execute(f"SELECT pg_advisory_unlock({GATE})")
    await wait_until(lambda: _xact_status(pool, in_batch, "aborted", "committed"), what="the killed batch ended")
    assert await pool.fetchval("SELECT pg_xact_status($1::text::xid8)", in_batch) == "aborted"  # rolled back
    assert not await caught_up(pool)
    await pool.execute("DROP TRIGGER gated_rows ON topics")

    second = spawn("second")
    await wait_until(lambda: caught_up(pool), timeout=30, what="the restarted projector caught up")
    assert second.stop() == 0, second.log()

    for name in NAMES:
        chain = await batch_chain(pool, name)  # no batch skipped, none applied twice, across both processes
        assert {first.owns(r["applied_by"]) or second.owns(r["applied_by"]) for r in chain} == {True}
        assert any(second.owns(r["applied_by"]) for r in chain)
    incremental = await dump(pool)
    assert len(incremental["topics"]) == 300
    assert await rebuild(pool) == total
    assert await dump(pool) == incremental


async def _batches(pool: asyncpg.Pool, count: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM batch_log") >= count


async def _waiting_at_gate(pool: asyncpg.Pool, process: ProjectorProcess) -> str | None:
    """The transaction id of the process's batch waiting at the gate (it has written already), if any."""
    assert process.proc.poll() is None, process.log()
    return await pool.fetchval(
        "SELECT backend_xid::text FROM pg_stat_activity WHERE application_name LIKE $1 AND backend_xid IS NOT NULL "
        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'", f"lingti-projector:%:{process.pid}:%")


async def _xact_status(pool: asyncpg.Pool, xid: str, *wanted: str) -> bool:
    return await pool.fetchval("SELECT pg_xact_status($1::text::xid8)", xid) in wanted


# --- two projector processes ---------------------------------------------------------------------


async def test_two_projector_processes_one_leads_each_read_model_and_the_other_takes_over(
        event_store, pool, spawn):
    await install_batch_log(pool)
    await seed_bulk(event_store, 60, "A")
    a = spawn("a", batch_size=20)
    await wait_until(lambda: _all_led_by(pool, a), what="a leads both read models")
    b = spawn("b", batch_size=20)
    await wait_until(lambda: _listening(pool, b), what="b is running")

    appended = 0
    samples = Counter()
    for i in range(40):  # both processes run; topics keep arriving
        appended += await seed_bulk(event_store, 1, f"B{i:02d}-", OPEN)
        holders = await leading(pool)
        samples.update(("a" if a.owns(h) else "b" if b.owns(h) else "?") for h in holders.values())
        assert len(holders) == len(NAMES)  # each read model has exactly one leader at every sample
        await asyncio.sleep(0.02)
    assert samples == Counter({"a": 40 * len(NAMES)})  # a leads throughout; b leads nothing while a lives
    await wait_until(lambda: caught_up(pool), what="a caught up")

    a.kill()
    killed = time.monotonic()
    await wait_until(lambda: _all_led_by(pool, b), timeout=10, what="b took over")
    takeover = time.monotonic() - killed
    for i in range(10):
        await seed_bulk(event_store, 1, f"C{i:02d}-", OPEN)
    await wait_until(lambda: caught_up(pool), what="b caught up")
    assert b.stop() == 0, b.log()

    for name in NAMES:
        chain = await batch_chain(pool, name)
        assert all(a.owns(r["applied_by"]) or b.owns(r["applied_by"]) for r in chain)
        first_of_b = next(i for i, r in enumerate(chain) if b.owns(r["applied_by"]))
        assert all(a.owns(r["applied_by"]) for r in chain[:first_of_b])  # never interleaved: a, then b
        assert all(b.owns(r["applied_by"]) for r in chain[first_of_b:])
    assert takeover < 5, f"takeover took {takeover:.2f} s"
    assert '"projection_leadership_acquired"' in b.log()
    print(f"takeover after kill -9: {takeover:.2f} s")
    incremental = await dump(pool)
    await rebuild(pool)
    assert await dump(pool) == incremental


async def _all_led_by(pool: asyncpg.Pool, process: ProjectorProcess) -> bool:
    assert process.proc.poll() is None, process.log()
    holders = await leading(pool)
    return len(holders) == len(NAMES) and all(process.owns(h) for h in holders.values())


async def _listening(pool: asyncpg.Pool, process: ProjectorProcess) -> bool:
    assert process.proc.poll() is None, process.log()
    return bool(await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1",
                                    f"lingti-projector:%:{process.pid}:%"))


async def test_in_process_leaders_hand_over_on_stop_and_on_a_lost_connection(event_store, pool):
    await seed_bulk(event_store, 5, "L")
    stops = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
    projectors = [Projector(pool, poll_interval=0.1, leadership_interval=0.2, identity=f"p{i}") for i in range(3)]
    tasks = [asyncio.create_task(p.run(s)) for p, s in zip(projectors, stops, strict=True)]
    try:
        await wait_until(lambda: _one_leader(pool), what="one leader")
        first = (await leading(pool))["topic_list"]
        index = int(first.rpartition("p")[2])
        stops[index].set()  # a clean stop gives the locks back
        await tasks[index]
        await wait_until(lambda: _one_leader(pool, not_=first), timeout=3, what="a new leader after a stop")

        pid = (await leaders(pool, ["topic_list"]))["topic_list"]["pid"]
        await pool.execute("SELECT pg_terminate_backend($1)", pid)  # the leader's lock connection dies
        await wait_until(lambda: _one_leader(pool, not_pid=pid), timeout=3, what="leadership after a lost connection")
        await seed_bulk(event_store, 2, "M")
        await wait_until(lambda: caught_up(pool), what="caught up under the new leader")
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)
    assert await leading(pool) == {}  # every lock was given back


async def _one_leader(pool: asyncpg.Pool, not_: str | None = None, not_pid: int | None = None) -> bool:
    """Both read models led by one projector (not `not_`, not on backend `not_pid`)."""
    holders = await leaders(pool, NAMES)
    names = {h["application_name"] for h in holders.values()}
    pids = {h["pid"] for h in holders.values()}
    return len(holders) == len(NAMES) and len(names) == 1 and not_ not in names and not_pid not in pids


# --- blue/green rebuild under concurrent readers -----------------------------------------------------


class OldTitles(TopicListProjection):
    """An older version of the topic read model: its rows are recognisably different."""

    @staticmethod
    def _row(topic_id, state, stored, fresh):
        row = list(TopicListProjection._row(topic_id, state, stored, fresh))
        row[3] = "OLD " + row[3]
        return tuple(row)


async def test_rebuild_switches_over_without_readers_ever_seeing_partial_rows(event_store, pool, database_url):
    topics = 150
    await seed_bulk(event_store, topics, "R")
    await Projector(pool, [OldTitles()]).catch_up()
    indexes_before = await _indexes(pool)
    live_oid = await pool.fetchval("SELECT 'topics'::regclass::oid")

    engine = create_read_engine(database_url)
    queries = TopicQueries(engine, pool)
    observations: Counter = Counter()
    latencies: list[float] = []
    done = asyncio.Event()

    async def sql_reader() -> None:
        async with pool.acquire() as conn:
            while not done.is_set():
                started = time.perf_counter()
                row = await conn.fetchrow("SELECT count(*) AS n, count(*) FILTER (WHERE title LIKE 'OLD %') AS old, "
                                          "sum(version) AS versions FROM topics")
                latencies.append(time.perf_counter() - started)
                observations[(row["n"], row["old"], row["versions"])] += 1

    async def api_reader() -> None:
        while not done.is_set():
            rows, _ = await queries.list_topics("HQ", limit=200)
            old = sum(r["title"].startswith("OLD ") for r in rows)
            observations[(len(rows), old, sum(r["version"] for r in rows))] += 1

    readers = [asyncio.create_task(sql_reader()) for _ in range(3)] + [asyncio.create_task(api_reader())]
    stop = asyncio.Event()
    live = asyncio.create_task(Projector(pool, [OldTitles()], poll_interval=0.05).run(stop))
    try:
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        applied = await rebuild(pool, [TopicListProjection()], batch_size=25)
        seconds = time.perf_counter() - started
        await asyncio.sleep(0.2)
    finally:
        done.set()
        stop.set()
        await asyncio.gather(*readers, live)
        await engine.dispose()

    versions = topics * len(FULL_LIFE)
    assert set(observations) == {(topics, topics, versions), (topics, 0, versions)}, observations
    assert applied == topics * len(FULL_LIFE)
    assert await pool.fetchval("SELECT 'topics'::regclass::oid") != live_oid  # a new table took the name
    assert await _indexes(pool) == indexes_before  # with the live index names
    assert await pool.fetchval("SELECT collation_name FROM information_schema.columns "
                               "WHERE table_name = 'topics' AND column_name = 'org'") == "C"
    assert await pool.fetchval("SELECT has_table_privilege('lingti_app', 'topics', 'INSERT')")
    assert await pool.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'projection_rebuild'") == 0
    print(f"rebuild of {applied} events: {seconds:.2f} s; {sum(observations.values())} reads, "
          f"slowest {max(latencies) * 1000:.0f} ms")


async def test_rebuild_catches_up_the_tail_and_the_running_projector_carries_on(event_store, pool):
    await seed_bulk(event_store, 40, "T")
    stop = asyncio.Event()
    live = asyncio.create_task(Projector(pool, poll_interval=0.05).run(stop))
    appending = asyncio.create_task(seed_bulk(event_store, 30, "U", OPEN, parallel=1))
    try:
        await rebuild(pool, batch_size=10)  # appends keep arriving during the build and the switch
        await appending
        await seed_bulk(event_store, 5, "V", OPEN)  # after the switch the live projector feeds the new tables
        await wait_until(lambda: caught_up(pool), what="caught up after the switch")
    finally:
        stop.set()
        await live
    assert await pool.fetchval("SELECT count(*) FROM topics") == 75
    incremental = await dump(pool)
    await rebuild(pool)
    assert await dump(pool) == incremental


async def test_rebuild_works_as_the_application_role(event_store, pool, database_url):
    role = "lingti_app_projector_test"
    await pool.execute(f"DROP ROLE IF EXISTS {role}")
    await pool.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'test-only' IN ROLE lingti_app")
    parts = urlsplit(database_url)
    netloc = f"{quote(role)}:test-only@{parts.netloc.rpartition('@')[2]}"
    app_pool = await create_pool(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
                                 min_size=1, max_size=4)
    try:
        assert not await app_pool.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        await seed_bulk(event_store, 10, "P")
        await Projector(app_pool).catch_up()
        before = await dump(pool)
        assert await rebuild(app_pool) == 120
        assert await dump(pool) == before
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # only read-model tables can be swapped
            await app_pool.execute("SELECT lingti_projection_swap('events')")
    finally:
        await app_pool.close()
        await pool.execute(f"DROP ROLE {role}")


async def _indexes(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    return [tuple(r) for r in await pool.fetch(
        "SELECT indexname, regexp_replace(indexdef, '^.*? USING ', '') FROM pg_indexes "
        "WHERE tablename IN ('topics', 'topic_completion') ORDER BY 1")]


# --- lag, health, metrics --------------------------------------------------------------------------


@pytest.fixture
def quick_thresholds(monkeypatch):
    monkeypatch.setattr(status_module, "LAG_WARN_SECONDS", 0.2)
    monkeypatch.setattr(status_module, "STALLED_SECONDS", 0.5)


async def test_a_long_transaction_is_reported_as_lag_with_the_blocking_backend(event_store, pool, quick_thresholds):
    early = TopicDriver(event_store, "EARLY", "HQ/SX")
    late = TopicDriver(event_store, "LATE", "HQ/SX")
    await Projector(pool).catch_up()
    async with pool.acquire() as conn:
        blocker_pid = conn.get_server_pid()
        transaction = conn.transaction()
        await transaction.start()
        await early.do(*STEPS["propose"](early), at("2025-03-03"), connection=conn)  # open, holds the horizon
        await late.step("propose", at("2025-03-04"))  # committed, but held back behind it
        assert await Projector(pool).catch_up() == 0
        await asyncio.sleep(0.3)

        status = {s["name"]: s for s in await projection_status(pool)}
        lag = status["topic_list"]
        assert (lag["status"], lag["reason"]) == ("lagging", "held_back")
        assert (lag["events_behind"], lag["held_back"]) == (1, 1) and lag["seconds_behind"] >= 0.3
        assert lag["blocker"]["pid"] == blocker_pid and lag["blocker"]["state"] == "idle in transaction"
        assert lag["blocker"]["xact_seconds"] >= 0.3
        part = await health_route.check_projector(SimpleNamespace(context=SimpleNamespace(pool=pool)))
        assert part["status"] == "lagging"  # /v1/health stays 200, saying so
        assert part["lag"]["topic_list"]["events"] == 1
        assert json.loads(json.dumps(part))["checkpoints"][1]["blocker"]["pid"] == blocker_pid

        stop = asyncio.Event()
        with structlog.testing.capture_logs() as logs:  # the running projector says so in its log too
            running = asyncio.create_task(Projector(pool, poll_interval=0.05).run(stop))
            await wait_until(lambda: _logged(logs, "projection_lagging"), timeout=5, what="a lag warning")
            stop.set()
            await running
        warning = next(e for e in logs if e["event"] == "projection_lagging")
        assert (warning["reason"], warning["blocker_pid"], warning["held_back"]) == ("held_back", blocker_pid, 1)

        await asyncio.sleep(0.3)  # held back longer than STALLED_SECONDS: still only lagging
        assert {s["status"] for s in await projection_status(pool)} == {"lagging"}
        await transaction.commit()

    assert await Projector(pool).catch_up() == 2
    assert {(s["status"], s["events_behind"], s["blocker"]) for s in await projection_status(pool)} == {("ok", 0, None)}


async def _logged(logs: list[dict], event: str) -> bool:
    return any(e["event"] == event for e in logs)


class _Temporal:
    namespace = "default"

    class service_client:  # noqa: N801 - mimics the client's attribute
        @staticmethod
        async def check_health(timeout=None) -> bool:
            return True


def _api(pool: asyncpg.Pool) -> FastAPI:
    """The health and metrics routes over a real pool (Temporal stubbed), as create_app wires them."""
    app = FastAPI()
    services = SimpleNamespace(context=SimpleNamespace(pool=pool, temporal=_Temporal(), task_queue="q"))
    app.state.context = services.context
    app.include_router(health_route.router)
    from api.deps import get_services

    app.dependency_overrides[get_services] = lambda: services
    metrics_route.install(app)

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict:
        return {"id": thing_id}

    return app


@pytest.fixture
async def api(pool) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_api(pool))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_health_is_200_lagging_and_503_when_stalled(event_store, pool, api, quick_thresholds):
    await checkpoints.ensure(pool, NAMES)
    healthy = await api.get("/v1/health")
    assert healthy.status_code == 200 and healthy.json()["status"] == "ok"

    await seed_bulk(event_store, 3, "H")  # no projector runs
    await pool.execute("UPDATE projection_checkpoints SET updated_at = now() - interval '1 hour'")
    await asyncio.sleep(0.25)
    lagging = await api.get("/v1/health")
    assert lagging.status_code == 200 and lagging.json()["status"] == "lagging"
    assert lagging.json()["parts"]["projector"]["lag"]["topic_list"]["events"] == 36

    await asyncio.sleep(0.3)
    stalled = await api.get("/v1/health")
    assert stalled.status_code == 503
    part = stalled.json()["error"]["details"]["parts"]["projector"]
    assert part["status"] == "failing" and "topic_list" in part["reason"]
    assert {c["reason"] for c in part["checkpoints"]} == {"no_projector"}

    await Projector(pool).catch_up()
    assert (await api.get("/v1/health")).status_code == 200


async def test_metrics_expose_lag_position_leadership_and_requests(event_store, pool, api):
    await checkpoints.ensure(pool, NAMES)
    await seed_bulk(event_store, 2, "X")
    assert (await api.get("/v1/things/1")).status_code == 200
    assert (await api.get("/v1/things/2")).status_code == 200
    assert (await api.get("/nowhere")).status_code == 404

    text = (await api.get("/metrics")).text
    assert 'lingti_projection_events_behind{projection="topic_list"} 24.0' in text
    assert 'lingti_projection_has_leader{projection="topic_list"} 0.0' in text
    assert 'lingti_projection_status{projection="topic_list",status="ok"} 1.0' in text
    assert 'lingti_http_requests_total{method="GET",route="/v1/things/{thing_id}",status="200"} 2.0' in text
    assert 'lingti_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert "lingti_projection_metrics_up 1.0" in text

    stop = asyncio.Event()
    running = asyncio.create_task(Projector(pool, poll_interval=0.05, identity="metrics-test").run(stop))
    try:
        await wait_until(lambda: caught_up(pool), what="caught up")
        text = (await api.get("/metrics")).text
    finally:
        stop.set()
        await running
    # the last event in the gap-free order (tx_id, global_position), not necessarily the highest position
    position = await pool.fetchval("SELECT global_position FROM events ORDER BY tx_id DESC, global_position DESC LIMIT 1")
    assert 'lingti_projection_events_behind{projection="topic_list"} 0.0' in text
    assert f'lingti_projection_position{{projection="topic_list"}} {float(position)}' in text
    assert 'lingti_projection_has_leader{projection="topic_completion"} 1.0' in text
    assert 'lingti_projection_leader_info{holder="lingti-projector:metrics-test",projection="topic_list"} 1.0' in text


# --- the daily audit anchor -------------------------------------------------------------------------


async def test_the_daily_anchor_is_recorded_once_a_day_and_retried_after_a_failure(pool, monkeypatch):
    calls: list[dt.date] = []
    fail = [True]

    async def record(_pool, day: dt.date) -> bool:
        calls.append(day)
        if fail[0]:
            fail[0] = False
            raise OSError("connection refused")
        return True

    anchor = DailyAnchor(pool, record, "Asia/Shanghai")
    today = [dt.date(2026, 3, 1)]
    monkeypatch.setattr(anchor, "today", lambda: today[0])
    monkeypatch.setattr("projections.runner.ANCHOR_RETRY_SECONDS", 0.0)
    assert await anchor.maybe_record() is None  # failed: retried on a later round
    assert await anchor.maybe_record() is True
    assert await anchor.maybe_record() is None  # nothing more that day
    today[0] = dt.date(2026, 3, 2)
    assert await anchor.maybe_record() is True
    assert calls == [dt.date(2026, 3, 1)] * 2 + [dt.date(2026, 3, 2)]


async def test_the_running_projector_records_todays_audit_anchor(event_store, pool):
    from eventstore.audit import record_anchor

    await seed_bulk(event_store, 2, "Y")
    stop = asyncio.Event()
    running = asyncio.create_task(Projector(pool, poll_interval=0.05, record_anchor=record_anchor,
                                            timezone="Asia/Shanghai").run(stop))
    try:
        await wait_until(lambda: _anchored(pool), what="an anchor")
    finally:
        stop.set()
        await running
    from zoneinfo import ZoneInfo

    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert [tuple(r) for r in await pool.fetch("SELECT anchor_date, streams FROM audit_anchors")] == [(today, 2)]


async def _anchored(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM audit_anchors"))


# --- the command line ------------------------------------------------------------------------------


def _lingti(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")}
    env.update(LINGTI_MODE="production", LINGTI_DATABASE_URL=database_url, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "lingti", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_lingti_projections_status_and_rebuild(event_store, pool, database_url):
    await seed_bulk(event_store, 4, "Z")
    await Projector(pool).catch_up()
    await seed_bulk(event_store, 1, "ZZ", OPEN)
    before = await dump(pool)

    status = await asyncio.to_thread(_lingti, database_url, "projections", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert {(s["name"], s["events_behind"], s["status"]) for s in json.loads(status.stdout)} == {
        (name, 3, "ok") for name in NAMES}
    table = await asyncio.to_thread(_lingti, database_url, "projections", "status")
    assert table.stdout.splitlines()[0].split() == ["projection", "status", "behind", "seconds", "held", "back",
                                                    "position", "leader"]

    rebuilt = await asyncio.to_thread(_lingti, database_url, "projections", "rebuild", "topic_list")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt topic_list from 51 events" in rebuilt.stdout
    after = await dump(pool)
    assert len(after["topics"]) == 5 and after["topic_completion"] == before["topic_completion"]
    assert (await _lingti_async(database_url, "projections", "rebuild", "nope")).returncode == 2


async def _lingti_async(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(_lingti, database_url, *args)
