"""Projector and read models against a real PostgreSQL: rows, rebuild, visibility, completion counts, wake-up.

Event streams are produced by the real decider (`domain.decide`), so every event is one the workflow could record.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from domain import Actor, Context, Event, decide, fold, initial_state
from domain import commands as cmd
from domain.orgs import contains
from domain.state import STATE_LABELS, TopicState
from domain.values import Indicator, IndicatorResult, MilestoneSpec, Reward
from eventstore import EventStore, NewEvent, Position, RecordedEvent
from projections import CompletionProjection, Projector, TopicListProjection, rebuild
from projections.orgs import InvalidOrg, OrgDirectory, OrgExists
from projections.queries import CompletionReports, InvalidCursor, TopicQueries, end_of_day, topic_visible_to

# Seeded history is written under ruleset 1 (approval concludes at once), like topics started before
# 四方评价 and 公示 existed; ruleset 2's conclusion path is covered by the workflow and e2e tests.
HISTORY_RULES = 1

TZ = ZoneInfo("Asia/Shanghai")
EVENT_NS = uuid.UUID("6b1e4a52-5d7e-4a57-9f43-0d1f5f3b8c10")
DUE = date(2026, 12, 31)

ORG_TREE = [
    ("HQ", "集团公司", "hq"),
    ("HQ/SX", "山西省分公司", "province"),
    ("HQ/SX/TY", "太原市分公司", "city"),
    ("HQ/SX/TY/B1", "太原第一党支部", "branch"),
    ("HQ/SX/TY/B1/G1", "第一党小组", "group"),
    ("HQ/SX/TY/B2", "太原第二党支部", "branch"),
    ("HQ/SX/D_T", "大同市分公司", "city"),
    ("HQ/SX/D_T/B1", "大同第一党支部", "branch"),
    ("HQ/SX/EMPTY", "无课题市分公司", "city"),
    ("HQ/SXX", "陕西省分公司", "province"),
    ("HQ/SXX/C1", "西安市分公司", "city"),
    ("HQ/HB", "湖北省分公司", "province"),
]
UNREGISTERED_CLAIMANT = "HQ/SX/NEW/B9"  # claims may name units nobody registered (yet)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def person(role: str, org: str) -> Actor:
    return Actor(sub=f"{role}:{org}", role=role, org=org, name=f"{role} of {org}")


# --- driving topics through the real decider ------------------------------------------------------


@dataclass
class TopicDriver:
    """One topic's stream: decides commands with the real decider and appends the events."""

    store: EventStore
    topic_id: str
    org: str
    category: str = "经营管理"
    title: str = "提升投递准时率"
    claim_org: str = ""
    state: TopicState = initial_state
    log: list[tuple[Event, datetime]] = field(default_factory=list)

    async def do(self, command: cmd.Command, actor: Actor, when: datetime,
                 connection: asyncpg.Connection | None = None) -> None:
        events = decide(self.state, command, Context(actor=actor, now=when, rules=HISTORY_RULES))
        new = [
            NewEvent(
                event_id=uuid.uuid5(EVENT_NS, f"{self.topic_id}/{self.state.version + i}"),
                event_type=e.event_type, data=e.to_data(), occurred_at=when,
                metadata={"actor": actor.model_dump(), "correlation_id": str(uuid.uuid4()), "causation_id": None,
                          "workflow_id": f"topic-{self.topic_id}", "run_id": "r1", "command": type(command).__name__},
            )
            for i, e in enumerate(events, start=1)
        ]
        await self.store.append(f"topic-{self.topic_id}", self.state.version, new, connection=connection)
        self.state = fold(events, self.state)
        self.log.extend((e, when) for e in events)

    async def step(self, name: str, when: datetime) -> None:
        command, actor = STEPS[name](self)
        await self.do(command, actor, when)

    async def walk(self, steps: Sequence[str], start: datetime, gap: timedelta = timedelta(days=3)) -> datetime:
        when = start
        for name in steps:
            await self.step(name, when)
            when += gap
        return when

    def as_of(self, instant: datetime) -> TopicState:
        """The topic's state folded from the events that occurred by `instant` (the test's own oracle)."""
        return fold(e for e, when in self.log if when <= instant)


def _proposal(d: TopicDriver) -> dict:
    return dict(title=d.title, description=f"{d.title}：课题说明", category=d.category, due_date=DUE,
                indicators=(Indicator(name="on_time_rate", target=98.5, unit="%"),),
                reward=Reward(amount=5000, unit="CNY"))


def _manager(d: TopicDriver) -> Actor:
    return person("manager", d.org)


def _branch(d: TopicDriver) -> Actor:
    return person("branch", d.claim_org)


STEPS: dict[str, Callable[[TopicDriver], tuple[cmd.Command, Actor]]] = {
    "propose": lambda d: (cmd.ProposeTopic(topic_id=d.topic_id, org=d.org, **_proposal(d)), _manager(d)),
    "return": lambda d: (cmd.ReviewProposal(decision="return", comment="指标再细化"), _manager(d)),
    "revise": lambda d: (cmd.ReviseProposal(**_proposal(d)), _manager(d)),
    "approve": lambda d: (cmd.ReviewProposal(decision="approve", comment="同意"), _manager(d)),
    "publish": lambda d: (cmd.PublishTopic(comment="党委确定"), person("committee", d.org)),
    "claim": lambda d: (cmd.ClaimTopic(org=d.claim_org, note="我支部领题"), _branch(d)),
    "reject_claim": lambda d: (cmd.DecideClaim(claim_id=d.state.claim.claim_id, decision="reject"),
                               person("business", d.org)),
    "confirm_claim": lambda d: (cmd.DecideClaim(claim_id=d.state.claim.claim_id, decision="confirm"),
                                person("business", d.org)),
    "plan": lambda d: (cmd.SubmitPlan(summary="PDCA", milestones=(
        MilestoneSpec(key="m1", title="调研", due_date=date(2026, 6, 30)),)), _branch(d)),
    "approve_plan": lambda d: (cmd.DecidePlan(decision="approve"), _manager(d)),
    "milestone": lambda d: (cmd.SubmitMilestoneCompletion(key="m1", evidence="调研报告"), _branch(d)),
    "approve_milestone": lambda d: (cmd.DecideMilestone(key="m1", decision="approve"), _manager(d)),
    "report": lambda d: (cmd.ReportProgress(progress_pct=60, summary="过半"), _branch(d)),
    "conclude": lambda d: (cmd.SubmitConclusion(summary="达标", results=(
        IndicatorResult(indicator="on_time_rate", actual=99.1),)), _branch(d)),
    "reject_conclusion": lambda d: (cmd.DecideConclusion(decision="reject", comment="补充材料"), _manager(d)),
    "approve_conclusion": lambda d: (cmd.DecideConclusion(decision="approve"), _manager(d)),
    "withdraw": lambda d: (cmd.WithdrawTopic(reason="合并到其他课题"), person("committee", d.org)),
}

FULL_LIFE = ["propose", "approve", "publish", "claim", "confirm_claim", "plan", "approve_plan", "milestone",
             "approve_milestone", "report", "conclude", "approve_conclusion"]
OPEN = FULL_LIFE[:3]
CLAIMED = FULL_LIFE[:5]


# --- a realistic, seeded data set ------------------------------------------------------------------

TOPIC_ORGS = ["HQ", "HQ/SX", "HQ/SX", "HQ/SX/TY", "HQ/SX/TY/B1", "HQ/SX/D_T", "HQ/SXX"]
CATEGORIES = ["经营管理", "财务管理", "人力资源", "服务质量"]


def _claimants(org: str) -> list[str]:
    units = [path for path, _, _ in ORG_TREE if contains(org, path)]
    return units + ([UNREGISTERED_CLAIMANT] if contains(org, UNREGISTERED_CLAIMANT) else [])


def _random_script(rng: random.Random) -> list[str]:
    steps = ["propose"] + (["return", "revise"] if rng.random() < 0.2 else []) + ["approve", "publish"]
    steps += (["claim", "reject_claim"] if rng.random() < 0.2 else []) + FULL_LIFE[3:10] + ["conclude"]
    steps += (["reject_conclusion", "conclude"] if rng.random() < 0.2 else []) + ["approve_conclusion"]
    cut = rng.choice([len(steps)] * 3 + list(range(1, len(steps))))
    withdraw = cut < len(steps) and rng.random() < 0.3
    return steps[:cut] + (["withdraw"] if withdraw else [])


async def seed_topics(store: EventStore, count: int, seed: int = 7,
                      after_step: Callable[[int], object] | None = None) -> list[TopicDriver]:
    """`count` topics at random stages, their commands interleaved in business-time order."""
    rng = random.Random(seed)
    drivers, timeline = [], []
    for n in range(count):
        org = rng.choice(TOPIC_ORGS)
        d = TopicDriver(store, f"T{n:03d}", org, category=rng.choice(CATEGORIES), title=f"课题 {n} 提升效率",
                        claim_org=rng.choice(_claimants(org)))
        when = at("2025-01-01") + timedelta(days=rng.randint(0, 180), minutes=n)
        for name in _random_script(rng):
            timeline.append((when, n, name))
            when += timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 9))
        drivers.append(d)
    for i, (when, n, name) in enumerate(sorted(timeline)):
        await drivers[n].step(name, when)
        if after_step is not None:
            await after_step(i)
    return drivers


# --- fixtures and small helpers -------------------------------------------------------------------


@pytest.fixture
async def org_tree(engine) -> OrgDirectory:
    directory = OrgDirectory(engine)
    await directory.import_orgs({"path": p, "name": n, "kind": k} for p, n, k in ORG_TREE)
    return directory


async def dump(pool: asyncpg.Pool) -> dict[str, list[dict]]:
    return {
        table: [dict(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY topic_id")]
        for table in ("topics", "topic_completion")
    }


async def all_events(store: EventStore) -> list[RecordedEvent]:
    return await store.read_all(Position.start(), 1_000_000)


# --- topic list / detail rows --------------------------------------------------------------------


async def test_topic_row_is_the_folded_state_of_its_stream(event_store, pool, engine):
    topic = TopicDriver(event_store, "T-1", "HQ/SX", claim_org="HQ/SX/TY/B1")
    await topic.walk(FULL_LIFE, at("2025-03-03"))

    assert await Projector(pool).catch_up() == len(topic.log)

    row = dict(await pool.fetchrow("SELECT * FROM topics WHERE topic_id = 'T-1'"))
    assert row["state"] == topic.state.model_dump(mode="json")
    assert (row["status"], row["version"], row["org"], row["claimed_by"]) == ("concluded", 12, "HQ/SX", "HQ/SX/TY/B1")
    assert row["proposed_at"] == at("2025-03-03")
    assert row["updated_at"] == topic.log[-1][1]

    detail = await TopicQueries(engine, event_store.pool).get_topic("T-1")
    assert (detail["id"], detail["state"], detail["state_label"]) == ("T-1", "concluded", "已结题")
    assert detail["claim"]["org"] == "HQ/SX/TY/B1" and detail["claim"]["status"] == "confirmed"
    assert [m["status"] for m in detail["milestones"]] == ["approved"]
    assert detail["reports"] == [{"progress_pct": 60, "summary": "过半"}]
    assert await TopicQueries(engine, event_store.pool).get_topic("nope") is None


async def test_topic_history_lists_every_event_with_actor_and_hash_chain(event_store, pool, engine):
    topic = TopicDriver(event_store, "T-1", "HQ/SX", claim_org="HQ/SX/TY/B1")
    await topic.walk(CLAIMED, at("2025-03-03"))

    history = await TopicQueries(engine, event_store.pool).topic_history("T-1")

    assert [h["type"] for h in history] == [e.event_type for e, _ in topic.log]
    assert [h["version"] for h in history] == [1, 2, 3, 4, 5]
    assert history[3]["actor"] == {"sub": "branch:HQ/SX/TY/B1", "role": "branch", "org": "HQ/SX/TY/B1",
                                   "name": "branch of HQ/SX/TY/B1"}
    assert history[3]["data"]["org"] == "HQ/SX/TY/B1"
    assert history[0]["prev_hash"] is None
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in zip(history, history[1:], strict=False))
    assert await TopicQueries(engine, event_store.pool).topic_history("nope") == []


async def test_claims_rejections_and_withdrawal_show_in_the_row(event_store, pool):
    topic = TopicDriver(event_store, "T-1", "HQ/SX", claim_org="HQ/SX/TY/B1")
    when = await topic.walk([*OPEN, "claim"], at("2025-03-03"))
    projector = Projector(pool)
    await projector.catch_up()
    assert await pool.fetchval("SELECT claimed_by FROM topics") == "HQ/SX/TY/B1"

    await topic.step("reject_claim", when)
    await projector.catch_up()
    assert tuple(await pool.fetchrow("SELECT status, claimed_by FROM topics")) == ("open", None)

    await topic.walk(["claim", "confirm_claim", "withdraw"], when + timedelta(days=1))
    await projector.catch_up()
    row = await pool.fetchrow("SELECT * FROM topic_completion")
    assert (row["claim_org"], row["claimed_at"], row["withdrawn_at"], row["concluded_at"]) == (
        "HQ/SX/TY/B1", when + timedelta(days=4), when + timedelta(days=7), None)
    assert await pool.fetchval("SELECT status FROM topics") == "withdrawn"


# --- rebuild, idempotence, concurrency -----------------------------------------------------------


async def test_rebuild_from_position_zero_gives_the_incremental_rows(event_store, pool):
    projector = Projector(pool, batch_size=3)

    async def now_and_then(i: int) -> None:
        if i % 17 == 0:
            await projector.catch_up()

    await seed_topics(event_store, 40, after_step=now_and_then)
    await projector.catch_up()
    incremental = await dump(pool)
    assert len(incremental["topics"]) == 40

    applied = await rebuild(pool)
    assert applied == len(await all_events(event_store))
    assert await dump(pool) == incremental

    await rebuild(pool, batch_size=1)
    assert await dump(pool) == incremental


async def test_applying_a_batch_again_changes_nothing(event_store, pool):
    await seed_topics(event_store, 10)
    await Projector(pool).catch_up()
    before = await dump(pool)
    events = await all_events(event_store)

    async with pool.acquire() as conn, conn.transaction():
        for projection in (TopicListProjection(), CompletionProjection()):
            await projection.apply(conn, events[len(events) // 2:])
            await projection.apply(conn, events)

    assert await dump(pool) == before


@dataclass
class Recording:
    """Wraps a read model and notes every event position it is given."""

    inner: TopicListProjection | CompletionProjection
    seen: list[int]

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def tables(self) -> tuple[str, ...]:
        return self.inner.tables

    async def apply(self, conn, events):
        self.seen.extend(e.global_position for e in events)
        await self.inner.apply(conn, events)


async def test_two_projectors_at_once_apply_each_event_exactly_once(event_store, pool):
    await seed_topics(event_store, 20)
    seen: list[int] = []
    projectors = [Projector(pool, [Recording(TopicListProjection(), seen)], batch_size=4) for _ in range(2)]

    await asyncio.gather(*(p.catch_up() for p in projectors))

    positions = [e.global_position for e in await all_events(event_store)]
    assert Counter(seen) == Counter(positions)
    incremental = (await dump(pool))["topics"]
    await rebuild(pool)
    assert (await dump(pool))["topics"] == incremental


async def test_an_event_appended_while_a_batch_is_applied_is_picked_up_next_round(event_store, pool):
    topic = TopicDriver(event_store, "T-1", "HQ/SX", claim_org="HQ/SX/TY/B1")
    when = await topic.walk(OPEN, at("2025-03-03"))

    class AppendsMidBatch(TopicListProjection):
        appended = False

        async def apply(self, conn, events):
            if not self.appended:
                self.appended = True
                await topic.step("claim", when)  # commits on its own connection, inside our batch
            await super().apply(conn, events)

    applied = await Projector(pool, [AppendsMidBatch()]).catch_up()

    assert applied == 4
    assert tuple(await pool.fetchrow("SELECT version, status FROM topics")) == (4, "claim_pending")


async def test_a_late_committing_append_is_held_back_not_skipped(event_store, pool):
    early = TopicDriver(event_store, "EARLY", "HQ/SX")
    late = TopicDriver(event_store, "LATE", "HQ/SX")
    projector = Projector(pool)
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await early.do(*STEPS["propose"](early), at("2025-03-03"), connection=conn)  # lower tx id, uncommitted
        await late.step("propose", at("2025-03-04"))

        assert await projector.catch_up() == 0  # LATE waits behind the open transaction
        await transaction.commit()

    assert await projector.catch_up() == 2
    assert [r["topic_id"] for r in await pool.fetch("SELECT topic_id FROM topics ORDER BY 1")] == ["EARLY", "LATE"]


# --- the running projector -----------------------------------------------------------------------


async def _wait_for(pool: asyncpg.Pool, sql: str, expected: object, timeout: float = 10) -> float:
    started = time.monotonic()
    while await pool.fetchval(sql) != expected:
        assert time.monotonic() - started < timeout, f"{sql} did not become {expected!r}"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_run_wakes_up_on_notify_long_before_the_poll_interval(event_store, pool):
    topic = TopicDriver(event_store, "T-1", "HQ/SX", claim_org="HQ/SX/TY/B1")
    when = await topic.walk(OPEN, at("2025-03-03"))
    stop = asyncio.Event()
    running = asyncio.create_task(Projector(pool, poll_interval=30).run(stop))
    try:
        await _wait_for(pool, "SELECT version FROM topics", 3)  # the first round caught up
        await asyncio.sleep(0.1)  # now it is waiting

        await topic.step("claim", when)
        assert await _wait_for(pool, "SELECT version FROM topics", 4) < 3
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=5)


async def test_run_polls_when_the_listening_connection_is_lost(event_store, pool):
    topic = TopicDriver(event_store, "T-1", "HQ/SX", claim_org="HQ/SX/TY/B1")
    when = await topic.walk(OPEN, at("2025-03-03"))
    stop = asyncio.Event()
    running = asyncio.create_task(Projector(pool, poll_interval=0.2).run(stop))
    try:
        await _wait_for(pool, "SELECT version FROM topics", 3)
        listening = "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND state = 'idle'"
        [first] = [r["pid"] for r in await pool.fetch(listening)]
        assert await pool.fetchval("SELECT pg_terminate_backend($1)", first)
        await topic.step("claim", when)
        await _wait_for(pool, "SELECT version FROM topics", 4)  # polling carries on
        await _wait_for(pool, f"SELECT count(*) FROM ({listening} AND pid <> {first}) AS l", 1)  # and it listens again
        await topic.step("confirm_claim", when + timedelta(days=1))
        await _wait_for(pool, "SELECT version FROM topics", 5)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=5)


# --- who sees what ------------------------------------------------------------------------------


async def _visibility_fixture(store: EventStore) -> None:
    start = at("2025-03-03")
    await TopicDriver(store, "SX-OPEN", "HQ/SX", claim_org="HQ/SX/TY/B1").walk(OPEN, start)
    await TopicDriver(store, "SX-DRAFT", "HQ/SX").walk(["propose"], start)
    await TopicDriver(store, "SX-WITHDRAWN", "HQ/SX", claim_org="HQ/SX/TY/B1").walk([*CLAIMED, "withdraw"], start)
    await TopicDriver(store, "TY-DRAFT", "HQ/SX/TY").walk(["propose"], start)
    await TopicDriver(store, "DT-CLAIMED", "HQ/SX/D_T", claim_org="HQ/SX/D_T/B1").walk(CLAIMED, start)
    await TopicDriver(store, "SXX-OPEN", "HQ/SXX").walk(OPEN, start)


VISIBLE = {
    "HQ": {"SX-OPEN", "SX-DRAFT", "SX-WITHDRAWN", "TY-DRAFT", "DT-CLAIMED", "SXX-OPEN"},
    "HQ/SX": {"SX-OPEN", "SX-DRAFT", "SX-WITHDRAWN", "TY-DRAFT", "DT-CLAIMED"},
    "HQ/SX/TY": {"SX-OPEN", "SX-WITHDRAWN", "TY-DRAFT"},  # published above + its claim (withdrawn) + its own
    "HQ/SX/TY/B1": {"SX-OPEN", "SX-WITHDRAWN"},
    "HQ/SX/TY/B2": {"SX-OPEN"},
    "HQ/SX/D_T/B1": {"SX-OPEN", "DT-CLAIMED"},
    "HQ/S_": set(),  # `_` is no wildcard
    "HQ/SXX": {"SXX-OPEN"},  # not a prefix match of HQ/SX
    "HQ/HB": set(),
}


@pytest.mark.parametrize("viewer", sorted(VISIBLE))
async def test_a_viewer_sees_its_subtree_its_claims_and_published_topics_from_above(
        event_store, pool, engine, viewer):
    await _visibility_fixture(event_store)
    await Projector(pool).catch_up()
    queries = TopicQueries(engine, event_store.pool)

    rows, cursor = await queries.list_topics(viewer)

    assert {r["id"] for r in rows} == VISIBLE[viewer] and cursor is None
    for topic_id in VISIBLE["HQ"]:  # the Python twin used for single topics agrees
        assert topic_visible_to(await queries.get_topic(topic_id), viewer) == (topic_id in VISIBLE[viewer])


async def test_list_filters_mean_subtrees_and_search_ignores_case(event_store, pool, engine):
    await _visibility_fixture(event_store)
    searched = TopicDriver(event_store, "SEARCH", "HQ/SX/TY", title="Raise ON-TIME delivery")
    await searched.walk(["propose"], at("2025-03-05"))
    await Projector(pool).catch_up()
    queries = TopicQueries(engine, event_store.pool)

    async def ids(**filters) -> set[str]:
        return {r["id"] for r in (await queries.list_topics("HQ", **filters))[0]}

    assert await ids(org="HQ/SX/TY") == {"TY-DRAFT", "SEARCH"}
    assert await ids(org="HQ/SX") == VISIBLE["HQ/SX"] | {"SEARCH"}
    assert await ids(claimed_by="HQ/SX") == {"SX-WITHDRAWN", "DT-CLAIMED"}
    assert await ids(claimed_by="HQ/SX/TY") == {"SX-WITHDRAWN"}
    assert await ids(state="proposed") == {"SX-DRAFT", "TY-DRAFT", "SEARCH"}
    assert await ids(state=["open", "claimed"]) == {"SX-OPEN", "SXX-OPEN", "DT-CLAIMED"}
    assert await ids(q="on-time") == {"SEARCH"}
    assert await ids(q="提升投递") == VISIBLE["HQ"]
    assert await ids(q="100%_") == set()
    assert await ids(category="经营管理", org="HQ/SXX") == {"SXX-OPEN"}

    rows, _ = await queries.list_topics("HQ", org="HQ/SX/D_T")
    assert rows == [{
        "id": "DT-CLAIMED", "title": "提升投递准时率", "category": "经营管理", "org": "HQ/SX/D_T",
        "claimed_by": "HQ/SX/D_T/B1", "state": "claimed", "state_label": STATE_LABELS["claimed"], "version": 5,
        "due_date": DUE, "proposed_at": at("2025-03-03"), "updated_at": at("2025-03-15"),
    }]


async def test_pages_follow_the_keyset_order_without_repeats(event_store, pool, engine):
    await seed_topics(event_store, 25)
    await Projector(pool).catch_up()
    queries = TopicQueries(engine, event_store.pool)
    everything, _ = await queries.list_topics("HQ", limit=100)

    pages, cursor = [], None
    while True:
        rows, cursor = await queries.list_topics("HQ", limit=4, cursor=cursor)
        pages.append(rows)
        if cursor is None:
            break

    assert [r["id"] for page in pages for r in page] == [r["id"] for r in everything]
    assert len(pages) == 7 and all(len(p) == 4 for p in pages[:-1])
    keys = [(-r["updated_at"].timestamp(), r["id"]) for r in everything]
    assert keys == sorted(keys)
    with pytest.raises(InvalidCursor):
        await queries.list_topics("HQ", cursor="not-a-cursor")


# --- completion counts as of any instant -----------------------------------------------------------


def _child_key(org: str, claim_org: str) -> str:
    return org if claim_org == org else org + "/" + claim_org[len(org) + 1:].split("/")[0]


def expected_report(drivers: list[TopicDriver], org: str, as_of: datetime, group_by: str) -> dict:
    """Counts from the domain's own fold of each topic's events up to `as_of`: independent of the read model."""
    counts: dict[str, Counter] = {}
    if group_by == "child":
        counts = {path: Counter() for path, _, _ in ORG_TREE if path.rpartition("/")[0] == org}
    for d in drivers:
        state = d.as_of(as_of)
        if state.claim is None or state.claim.status != "confirmed" or not contains(org, state.claim.org):
            continue
        key = _child_key(org, state.claim.org) if group_by == "child" else state.category
        outcome = {"withdrawn": "withdrawn", "concluded": "concluded"}.get(state.status, "in_progress")
        for bucket in (key, "TOTAL"):
            counts.setdefault(bucket, Counter())[outcome] += 1
    counts.setdefault("TOTAL", Counter())
    return {
        key: (c["in_progress"] + c["concluded"], c["concluded"], c["in_progress"], c["withdrawn"])
        for key, c in counts.items()
    }


def _as_dict(report: dict) -> dict:
    key = "org" if report["group_by"] == "child" else "category"
    numbers = ("claimed", "concluded", "in_progress", "withdrawn")
    result = {row[key]: tuple(row[n] for n in numbers) for row in report["rows"]}
    result["TOTAL"] = tuple(report["total"][n] for n in numbers)
    return result


async def test_completion_report_matches_the_events_as_of_any_instant(event_store, pool, engine, org_tree):
    drivers = await seed_topics(event_store, 60, seed=11)
    await Projector(pool).catch_up()
    reports = CompletionReports(engine)
    confirmed_at = next(when for d in drivers for e, when in d.log if e.event_type == "ClaimConfirmed")
    instants = [end_of_day(date(2025, m, d)) for m, d in ((3, 31), (6, 30), (9, 30), (12, 31))]
    instants += [confirmed_at, confirmed_at - timedelta(microseconds=1), at("2027-01-01")]

    seen_outcomes = Counter()
    for as_of in instants:
        for org in ("HQ", "HQ/SX", "HQ/SX/TY", "HQ/SXX", "HQ/HB"):
            for group_by in ("child", "category"):
                report = await reports.completion_report(org, as_of, group_by)
                assert _as_dict(report) == expected_report(drivers, org, as_of, group_by), (org, as_of, group_by)
                outcomes = ("claimed", "concluded", "in_progress", "withdrawn")
                seen_outcomes.update(dict(zip(outcomes, _as_dict(report)["TOTAL"], strict=True)))
    assert all(seen_outcomes[k] > 0 for k in ("claimed", "concluded", "in_progress", "withdrawn"))


async def test_completion_rows_name_children_own_level_and_unregistered_units(event_store, pool, engine, org_tree):
    start = at("2025-02-03")
    await TopicDriver(event_store, "A", "HQ/SX", claim_org="HQ/SX").walk(FULL_LIFE, start)
    await TopicDriver(event_store, "B", "HQ/SX", claim_org="HQ/SX/TY/B1/G1").walk(CLAIMED, start)
    await TopicDriver(event_store, "C", "HQ/SX", claim_org=UNREGISTERED_CLAIMANT).walk(FULL_LIFE, start)
    await TopicDriver(event_store, "D", "HQ/SX", claim_org="HQ/SX/TY/B2").walk(FULL_LIFE, start)
    await Projector(pool).catch_up()

    report = await CompletionReports(engine).completion_report("HQ/SX", end_of_day(date(2025, 12, 31)))

    assert [(r["org"], r["name"]) for r in report["rows"]] == [
        ("HQ/SX", "(本级)"), ("HQ/SX/D_T", "大同市分公司"), ("HQ/SX/EMPTY", "无课题市分公司"),
        ("HQ/SX/NEW", None), ("HQ/SX/TY", "太原市分公司"),
    ]
    ty = report["rows"][-1]
    assert ty == {"org": "HQ/SX/TY", "name": "太原市分公司", "claimed": 2, "concluded": 1, "in_progress": 1,
                  "withdrawn": 0, "completion_rate": 0.5, "units_claimed": 2}
    assert report["rows"][2]["completion_rate"] == 0.0 and report["rows"][2]["claimed"] == 0
    assert report["total"] == {"org": "HQ/SX", "name": "山西省分公司", "claimed": 4, "concluded": 3,
                               "in_progress": 1, "withdrawn": 0, "completion_rate": 0.75, "units_claimed": 4}
    empty = await CompletionReports(engine).completion_report("HQ/SX", end_of_day(date(2025, 1, 1)))
    assert "HQ/SX" not in [r["org"] for r in empty["rows"]] and empty["total"]["claimed"] == 0
    with pytest.raises(ValueError):
        await CompletionReports(engine).completion_report("HQ/SX", datetime(2025, 1, 1))


# --- the org tree -------------------------------------------------------------------------------


async def test_orgs_need_a_registered_parent_a_known_kind_and_a_new_path(engine):
    directory = OrgDirectory(engine)
    created = await directory.create_org("HQ", "集团公司", "hq")
    assert (created["path"], created["parent_path"]) == ("HQ", None)
    await directory.create_org("HQ/SX", "山西省分公司", "province")

    with pytest.raises(InvalidOrg, match="HQ/SX/TY"):
        await directory.create_org("HQ/SX/TY/B1", "支部", "branch")
    with pytest.raises(InvalidOrg, match="kind"):
        await directory.create_org("HQ/SX/TY", "太原", "village")
    with pytest.raises(InvalidOrg, match="path"):
        await directory.create_org("HQ//TY", "太原", "city")
    with pytest.raises(OrgExists):
        await directory.create_org("HQ/SX", "山西", "province")
    assert [o["path"] for o in await directory.list_orgs()] == ["HQ", "HQ/SX"]


async def test_org_import_takes_parents_from_the_same_file_and_reports_changes(engine, org_tree):
    assert [o["path"] for o in await org_tree.list_orgs("HQ/SX/TY")] == [
        "HQ/SX/TY", "HQ/SX/TY/B1", "HQ/SX/TY/B1/G1", "HQ/SX/TY/B2"]
    assert [o["path"] for o in await org_tree.list_orgs("HQ/SX") if not o["path"].startswith("HQ/SX/")] == ["HQ/SX"]
    assert await org_tree.missing_orgs(["HQ/SX", "HQ/XX", "HQ/SX/TY/B3", "HQ/XX"]) == ["HQ/XX", "HQ/SX/TY/B3"]

    counts = await org_tree.import_orgs([
        {"path": "HQ/SX/TY/B3/G1", "name": "小组", "kind": "group"},  # child before parent in the file
        {"path": "HQ/SX/TY/B3", "name": "第三支部", "kind": "branch"},
        {"path": "HQ/SX/TY/B1", "name": "太原第一党支部（更名）", "kind": "branch"},
        {"path": "HQ/SX/TY/B2", "name": "太原第二党支部", "kind": "branch"},
    ])
    assert counts == {"rows": 4, "created": 2, "updated": 1, "unchanged": 1}
    assert (await org_tree.get_org("HQ/SX/TY/B1"))["name"] == "太原第一党支部（更名）"

    with pytest.raises(InvalidOrg) as error:
        await org_tree.import_orgs([{"path": "HQ/X Y", "name": "n", "kind": "city"},
                                    {"path": "HQ/SX/Z", "name": "", "kind": "city"},
                                    {"path": "HQ/NOPE/Z", "name": "z", "kind": "city"}])
    assert [p.split(":")[0] for p in error.value.details["problems"]] == ["row 1", "row 2"]
    with pytest.raises(InvalidOrg, match="HQ/NOPE"):
        await org_tree.import_orgs([{"path": "HQ/NOPE/Z", "name": "z", "kind": "city"}])
    assert await org_tree.missing_orgs(["HQ/NOPE/Z"]) == ["HQ/NOPE/Z"]
