"""The red/blue board (红蓝榜) against a real PostgreSQL: checkpoint scores projected from the log, ranked per level.

History is written with the real decider (`domain.decide`) and `EventStore.append` at chosen business times, like
tests/integration/test_projections.py: users under HISTORY_RULES, the workflow's own timers as the `SYSTEM` actor.
"""

from __future__ import annotations

import uuid

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from domain import Actor, Context, Event, decide, fold, initial_state
from domain import commands as cmd
from domain.actors import SYSTEM
from domain.calendar import quarter_end
from domain.policy import ControlPolicy
from domain.state import TopicState
from domain.values import Indicator, MilestoneSpec, Reward
from eventstore import EventStore, NewEvent, Position
from projections import Projector, rebuild
from projections.orgs import OrgDirectory
from projections.queries.board import CheckpointBoard, board_colors
from projections.read_models import default_projections

HISTORY_RULES = 1  # seeded history concludes on approval (ruleset 1); rules=2 where 四方评价 and 公示 matter
TZ = ZoneInfo("Asia/Shanghai")
NS = uuid.UUID("3f0b5a8e-8c1e-4d0a-a7a1-2f6b1c9d4e70")
POLICY = ControlPolicy(posting_period=timedelta(days=5))

ORG_TREE = [
    ("HQ", "集团公司", "hq"),
    ("HQ/SX", "山西省分公司", "province"),
    ("HQ/SX/TY", "太原市分公司", "city"),
    ("HQ/SX/TY/B1", "迎泽党支部", "branch"),  # names sort unlike paths: 杏 (U+674F) before 迎 (U+8FCE)
    ("HQ/SX/TY/B1/G1", "迎泽第一党小组", "group"),
    ("HQ/SX/TY/B2", "杏花岭党支部", "branch"),
    ("HQ/SX/TY/B3", "万柏林党支部", "branch"),
    ("HQ/SX/DT", "大同市分公司", "city"),
    ("HQ/SX/DT/B1", "大同第一党支部", "branch"),
    ("HQ/SX/DT/B2", "大同第二党支部", "branch"),
    ("HQ/SX/DT/B3", "大同第三党支部", "branch"),
    ("HQ/HB", "湖北省分公司", "province"),
    ("HQ/HB/WH", "武汉市分公司", "city"),
    ("HQ/HB/WH/B1", "武汉第一党支部", "branch"),
]


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def person(role: str, org: str) -> Actor:
    return Actor(sub=f"{role}:{org}", role=role, org=org, name=f"{role} of {org}")


def owner_of(claim_org: str) -> str:
    """The province above the claiming unit owns the topic (its manager reviews, assesses, decides)."""
    return "/".join(claim_org.split("/")[:2])


@dataclass
class Topic:
    """One topic's stream, driven through the real decider; events are appended at the business time given."""

    store: EventStore
    topic_id: str
    claim_org: str
    rules: int = HISTORY_RULES
    state: TopicState = initial_state
    log: list[tuple[Event, datetime]] = field(default_factory=list)

    @property
    def org(self) -> str:
        return owner_of(self.claim_org)

    @property
    def manager(self) -> Actor:
        return person("manager", self.org)

    @property
    def branch(self) -> Actor:
        return person("branch", self.claim_org)

    async def do(self, command: cmd.Command, actor: Actor, when: datetime) -> list[Event]:
        context = Context(actor=actor, now=when, rules=self.rules, policy=POLICY)
        events = decide(self.state, command, context)
        if not events:  # an idempotent no-op (e.g. an escalation past the top level): nothing to record
            return events
        await self.store.append(f"topic-{self.topic_id}", self.state.version, [
            NewEvent(event_id=uuid.uuid5(NS, f"{self.topic_id}/{self.state.version + i}"), event_type=e.event_type,
                     data=e.to_data(), occurred_at=when,
                     metadata={"actor": actor.model_dump(), "correlation_id": f"seed-{self.topic_id}",
                               "command": type(command).__name__})
            for i, e in enumerate(events, start=1)])
        self.state = fold(events, self.state)
        self.log.extend((e, when) for e in events)
        return events

    async def claimed(self, when: datetime, *, reward: float | None = 5000,
                      milestones: tuple[MilestoneSpec, ...] = (), due: date = date(2027, 12, 31)) -> datetime:
        """点题 → 领题 (and with milestones an approved plan: in_progress); returns the instant after the last step."""
        steps: list[tuple[cmd.Command, Actor]] = [
            (cmd.ProposeTopic(topic_id=self.topic_id, org=self.org, title=f"课题 {self.topic_id}", description="说明",
                              category="经营管理", due_date=due,
                              indicators=(Indicator(name="rate", target=98.5, unit="%"),),
                              reward=Reward(amount=reward) if reward else None), self.manager),
            (cmd.ReviewProposal(decision="approve"), self.manager),
            (cmd.PublishTopic(), person("committee", self.org)),
            (cmd.ClaimTopic(org=self.claim_org, note="领题"), self.branch),
            (cmd.DecideClaim(claim_id="C1", decision="confirm"), person("business", self.org)),
        ]
        if milestones:
            steps += [(cmd.SubmitPlan(summary="PDCA", milestones=milestones), self.branch),
                      (cmd.DecidePlan(decision="approve"), self.manager)]
        for command, actor in steps:
            await self.do(command, actor, when)
            when += timedelta(hours=1)
        return when

    # 季度管控: the schedule opens and closes checkpoints (SYSTEM); the branch reports, the manager scores.
    async def open(self, quarter: str) -> None:
        await self.do(cmd.OpenCheckpoint(quarter=quarter), SYSTEM, quarter_end(quarter, "Asia/Shanghai"))

    async def scored(self, quarter: str, score: float) -> None:
        await self.open(quarter)
        opened = quarter_end(quarter, "Asia/Shanghai")
        await self.do(cmd.FileCheckpointReport(quarter=quarter, progress_pct=50, summary="进展"), self.branch,
                      opened + timedelta(days=3))
        await self.do(cmd.AssessCheckpoint(quarter=quarter, score=score, rating="on_track"), self.manager,
                      opened + timedelta(days=20))

    async def reported(self, quarter: str) -> None:
        await self.open(quarter)
        await self.do(cmd.FileCheckpointReport(quarter=quarter, progress_pct=50, summary="进展"), self.branch,
                      quarter_end(quarter, "Asia/Shanghai") + timedelta(days=3))

    async def missed(self, quarter: str) -> None:
        await self.open(quarter)
        await self.do(cmd.MarkCheckpointMissed(quarter=quarter), SYSTEM,
                      quarter_end(quarter, "Asia/Shanghai") + timedelta(days=15))


@pytest.fixture
async def org_tree(engine) -> OrgDirectory:
    directory = OrgDirectory(engine)
    await directory.import_orgs({"path": p, "name": n, "kind": k} for p, n, k in ORG_TREE)
    return directory


CONTROL_TABLES = {
    "control_topics": "topic_id", "checkpoint_scores": "topic_id, quarter", "control_deadlines": "topic_id, kind, key",
    "control_reminders": "topic_id, quarter", "control_rewards": "topic_id, key",
}


async def dump_control(pool: asyncpg.Pool) -> dict[str, list[dict]]:
    return {table: [dict(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY {key}")]
            for table, key in CONTROL_TABLES.items()}


Q2, Q3 = "2026Q2", "2026Q3"


async def seed_quarter(store: EventStore) -> dict[str, Topic]:
    """Known 2026Q3 scores (Q2 too, which must not leak into Q3):

    TY/B1 95 + 85 (its party group) = 90 | TY/B2 90 (tie with B1: the name decides) | TY/B3 70 (Q2 missed)
    DT/B1 100 + missed = 50, 1 missed | DT/B2 50 | DT/B3 60 (+ one reported unscored, one still open)
    TY itself 10 (not on the branch board) | HB/WH/B1 80 (another province)
    """
    plan = {
        "T1": ("HQ/SX/TY/B1", [(Q3, 95)]), "T2": ("HQ/SX/TY/B1/G1", [(Q3, 85)]),
        "T3": ("HQ/SX/TY/B2", [(Q2, 40), (Q3, 90)]), "T4": ("HQ/SX/TY/B3", [(Q2, None), (Q3, 70)]),
        "T5": ("HQ/SX/DT/B1", [(Q3, 100)]), "T6": ("HQ/SX/DT/B1", [(Q3, None)]),
        "T7": ("HQ/SX/DT/B2", [(Q3, 50)]), "T8": ("HQ/SX/DT/B3", [(Q3, "reported")]),
        "T9": ("HQ/SX/DT/B3", [(Q3, 60)]), "T10": ("HQ/SX/DT/B3", [(Q3, "open")]),
        "T11": ("HQ/SX/TY", [(Q3, 10)]), "T12": ("HQ/HB/WH/B1", [(Q3, 80)]),
    }
    topics = {}
    for n, (topic_id, (claim_org, checkpoints)) in enumerate(plan.items()):
        topic = topics[topic_id] = Topic(store, topic_id, claim_org)
        await topic.claimed(at("2026-02-02") + timedelta(days=n))
        for quarter, outcome in checkpoints:
            if outcome is None:
                await topic.missed(quarter)
            elif outcome == "reported":
                await topic.reported(quarter)
            elif outcome == "open":
                await topic.open(quarter)
            else:
                await topic.scored(quarter, outcome)
    return topics


def ranking(board: dict) -> list[tuple]:
    return [(r["rank"], r["org"], r["average_score"], r["missed"], r["color"]) for r in board["rows"]]


async def test_branch_board_ranks_by_average_then_misses_then_name(event_store, pool, engine, org_tree):
    await seed_quarter(event_store)
    await Projector(pool).catch_up()
    board = await CheckpointBoard(engine).board("HQ/SX", Q3, "branch")

    assert ranking(board) == [
        (1, "HQ/SX/TY/B2", 90.0, 0, "red"),  # tie at 90 with B1: 杏花岭 sorts before 迎泽
        (2, "HQ/SX/TY/B1", 90.0, 0, "neutral"),  # its party group's topic counts for it
        (3, "HQ/SX/TY/B3", 70.0, 0, "neutral"),  # its missed Q2 checkpoint is not Q3's
        (4, "HQ/SX/DT/B3", 60.0, 0, "neutral"),  # the reported-but-unscored and the open one do not count
        (5, "HQ/SX/DT/B2", 50.0, 0, "neutral"),
        (6, "HQ/SX/DT/B1", 50.0, 1, "blue"),  # same average as DT/B2, one more miss
    ]
    first, dt_b3 = board["rows"][0], board["rows"][3]
    assert first == {"rank": 1, "org": "HQ/SX/TY/B2", "name": "杏花岭党支部", "topics": 1, "checkpoints": 1,
                     "average_score": 90.0, "missed": 0, "color": "red", "label": "红榜"}
    assert (dt_b3["topics"], dt_b3["checkpoints"]) == (3, 1)
    assert (board["units"], board["red"], board["blue"], board["rows"][-1]["label"]) == (6, 1, 1, "蓝榜")

    wide = await CheckpointBoard(engine).board("HQ/SX", Q3, "branch", red_share=0.4, blue_share=0.4)
    assert [r["color"] for r in wide["rows"]] == ["red", "red", "neutral", "neutral", "blue", "blue"]

    q2 = await CheckpointBoard(engine).board("HQ/SX", Q2, "branch")
    assert ranking(q2) == [(1, "HQ/SX/TY/B2", 40.0, 0, "red"), (2, "HQ/SX/TY/B3", 0.0, 1, "blue")]
    city = await CheckpointBoard(engine).board("HQ/SX/TY", Q3, "branch")
    assert ranking(city) == [(1, "HQ/SX/TY/B2", 90.0, 0, "red"), (2, "HQ/SX/TY/B1", 90.0, 0, "neutral"),
                             (3, "HQ/SX/TY/B3", 70.0, 0, "blue")]
    assert (await CheckpointBoard(engine).board("HQ/SX", "2026Q4", "branch"))["rows"] == []


async def test_city_and_province_boards_aggregate_every_checkpoint_below(event_store, pool, engine, org_tree):
    await seed_quarter(event_store)
    await Projector(pool).catch_up()

    cities = await CheckpointBoard(engine).board("HQ/SX", Q3, "city")
    # TY: 95, 85, 90, 70 and its own 10 → 70; DT: 100, 0 (missed), 50, 60 → 52.5 (T8 reported, T10 open: no score)
    assert ranking(cities) == [(1, "HQ/SX/TY", 70.0, 0, "red"), (2, "HQ/SX/DT", 52.5, 1, "blue")]
    assert [(r["name"], r["topics"], r["checkpoints"]) for r in cities["rows"]] == [
        ("太原市分公司", 5, 5), ("大同市分公司", 6, 4)]

    provinces = await CheckpointBoard(engine).board("HQ", Q3, "province")
    assert ranking(provinces) == [(1, "HQ/HB", 80.0, 0, "red"), (2, "HQ/SX", 62.22, 1, "blue")]
    with pytest.raises(ValueError, match="above"):
        await CheckpointBoard(engine).board("HQ/SX/TY", Q3, "province")


async def test_rebuild_from_zero_gives_the_same_control_rows(event_store, pool, org_tree):
    topics = await seed_quarter(event_store)
    projector = Projector(pool, batch_size=7)
    await projector.catch_up()
    reward_topic = Topic(event_store, "R1", "HQ/SX/TY/B1")
    await reward_topic.claimed(at("2026-03-02"), milestones=(
        MilestoneSpec(key="m1", title="摸底", due_date=date(2026, 5, 31), reward=Reward(amount=800)),))
    await reward_topic.do(cmd.MarkDeadlineMissed(kind="milestone", key="m1"), SYSTEM, at("2026-06-01", 0))
    await reward_topic.do(cmd.Escalate(kind="milestone", key="m1"), SYSTEM, at("2026-06-08", 0))
    await reward_topic.do(cmd.SubmitMilestoneCompletion(key="m1", evidence="报告"), reward_topic.branch,
                          at("2026-06-09"))
    await reward_topic.do(cmd.DecideMilestone(key="m1", decision="approve"), reward_topic.manager, at("2026-06-10"))
    await reward_topic.do(cmd.RecordRewardOutcome(key="milestone:m1", released=True, reference="PAY-1"), SYSTEM,
                          at("2026-06-10", 11))
    await topics["T6"].missed("2026Q4")  # a second miss in a row: 约谈提醒
    await projector.catch_up()
    incremental = await dump_control(pool)
    assert {table: len(rows) for table, rows in incremental.items()} == {
        "control_topics": 13, "checkpoint_scores": 15, "control_deadlines": 1, "control_reminders": 1,
        "control_rewards": 1}

    await rebuild(pool, batch_size=5)
    assert await dump_control(pool) == incremental
    events = await event_store.read_all(Position.start(), 10_000)
    async with pool.acquire() as conn, conn.transaction():  # applying a batch again changes nothing
        for projection in default_projections():
            await projection.apply(conn, events[len(events) // 2:])
            await projection.apply(conn, events)
    assert await dump_control(pool) == incremental


@pytest.mark.parametrize(("n", "red_share", "blue_share", "expected"), [
    (0, 0.2, 0.2, (0, 0)), (1, 0.2, 0.2, (0, 0)), (2, 0.2, 0.2, (1, 1)), (5, 0.2, 0.2, (1, 1)),
    (7, 0.2, 0.2, (1, 1)), (8, 0.2, 0.2, (2, 2)), (12, 0.2, 0.2, (2, 2)), (3, 0.5, 0.5, (2, 1)),
    (4, 1.0, 0.2, (4, 0)), (10, 0.0, 0.3, (0, 3)), (10, 0.2, 0.0, (2, 0)),
])
def test_board_colours_round_to_the_share_at_least_one_and_never_overlap(n, red_share, blue_share, expected):
    assert board_colors(n, red_share, blue_share) == expected
