"""A realistic, generated event log: an org tree of 31 provinces and topics in every lifecycle state, decided by the
real decider over two years of business time, as hash-chained rows exactly as the workflow writes them.

Every topic is a story (`TopicStory`): its users' commands at times drawn from a seeded random generator, and the
workflow's calendar (`domain.schedule`: checkpoints opened at quarter ends, missed reports, missed due dates,
escalations, the end of 公示) run between them, each through `domain.decide` and `domain.evolve` like the
workflow does. A command the rules refuse is dropped (the API would have answered 409 and recorded nothing).

Rows are what `workflows/topic.py` `_record` appends: event id uuid5 of stream and version, metadata with the
actor, correlation and causation ids, the command, workflow and run id; `schema_version` of the event class;
`occurred_at` the workflow clock; `prev_hash`/`hash` as `eventstore/store.py` `_Batch` computes them.

Deterministic: topic `i` depends only on (seed, i), whatever the number of processes. `rows(...)` yields every
topic's rows merged in global time order (`occurred_at`, then stream, then version), which is the order they are
loaded in, so `global_position` follows business time like a real log's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain import commands as c
from domain.actors import SYSTEM, Actor
from domain.errors import DomainError
from domain.events import Event
from domain.lifecycle import decide, evolve
from domain.policy import DEFAULT_POLICY
from domain.schedule import due_commands, next_wakeup
from domain.state import TopicState, initial_state
from eventstore.hashing import canonical_bytes_from_json
from workflows.topic import EVENT_ID_NAMESPACE

TIMEZONE = "Asia/Shanghai"
ZONE = ZoneInfo(TIMEZONE)
UTC = dt.timezone.utc
# Two years of business time. Topics started from RULES2_FROM on run under ruleset 2 (四方评价 and 公示 before 结题).
START = dt.datetime(2024, 11, 1, 8, 0, tzinfo=ZONE).astimezone(UTC)
END = dt.datetime(2026, 10, 31, 20, 0, tzinfo=ZONE).astimezone(UTC)
RULES2_FROM = dt.datetime(2025, 11, 1, tzinfo=ZONE).astimezone(UTC)
AS_OF = ["2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31", "2026-03-31", "2026-06-30", "2026-09-30"]
POLICY = DEFAULT_POLICY
DAY = dt.timedelta(days=1)

PROVINCES = [
    ("北京", "市"), ("天津", "市"), ("河北", "省"), ("山西", "省"), ("内蒙古", "自治区"), ("辽宁", "省"), ("吉林", "省"),
    ("黑龙江", "省"), ("上海", "市"), ("江苏", "省"), ("浙江", "省"), ("安徽", "省"), ("福建", "省"), ("江西", "省"),
    ("山东", "省"), ("河南", "省"), ("湖北", "省"), ("湖南", "省"), ("广东", "省"), ("广西", "自治区"), ("海南", "省"),
    ("重庆", "市"), ("四川", "省"), ("贵州", "省"), ("云南", "省"), ("西藏", "自治区"), ("陕西", "省"), ("甘肃", "省"),
    ("青海", "省"), ("宁夏", "自治区"), ("新疆", "自治区"),
]
_CITY_WORDS = "东南西北中安平宁阳江山海湖川州原德兴昌清城华定远"
_UNIT_WORDS = ["投递部", "营业部", "揽投部", "网点", "分拣中心", "客服中心", "运营部", "储蓄所", "综合部", "市场部"]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宇浩凯鹏辉健林峰"

CATEGORIES = {
    "服务质量": [("投递准时率", 98.5, "%", "at_least"), ("客户投诉率", 0.5, "‰", "at_most"),
                ("满意度", 95.0, "分", "at_least")],
    "经营管理": [("业务收入增长", 8.0, "%", "at_least"), ("新增客户数", 1200, "户", "at_least"),
                ("成本费用率", 62.0, "%", "at_most")],
    "财务管理": [("应收账款周转天数", 45, "天", "at_most"), ("资金归集率", 99.0, "%", "at_least")],
    "人力资源": [("培训覆盖率", 100.0, "%", "at_least"), ("关键岗位流失率", 3.0, "%", "at_most")],
    "安全生产": [("安全事故数", 0, "起", "at_most"), ("隐患整改率", 100.0, "%", "at_least")],
    "数字化转型": [("线上办理率", 80.0, "%", "at_least"), ("系统可用率", 99.9, "%", "at_least")],
}
_TITLES = {
    "服务质量": ["提升城区投递准时率", "降低客户投诉率", "优化窗口服务流程", "提升农村投递服务水平"],
    "经营管理": ["拓展县域寄递市场", "提升网点经营效益", "推动协同营销增收", "压降单位运营成本"],
    "财务管理": ["加快应收账款回收", "提升资金集中管理水平", "规范费用报销流程"],
    "人力资源": ["建设一线员工培训体系", "稳定关键岗位人员队伍", "推进青年人才培养"],
    "安全生产": ["消除分拣场地安全隐患", "提升车辆运输安全水平", "规范营业场所安全管理"],
    "数字化转型": ["推广线上业务办理", "提升信息系统稳定性", "推进数据驱动的精细化管理"],
}
_MILESTONES = ["摸底调研", "制定措施", "试点推行", "全面推广", "总结评估", "建立长效机制"]


# --- the organisation tree and its people -------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgUnit:
    path: str
    name: str
    kind: str


@dataclass
class Province:
    path: str
    manager: Actor
    committee: Actor
    business: Actor
    proposer: Actor
    cities: list[City] = field(default_factory=list)

    @property
    def branches(self) -> list[str]:
        return [b for city in self.cities for b in city.branches]


@dataclass
class City:
    path: str
    manager: Actor
    committee: Actor
    business: Actor
    proposer: Actor
    branches: list[str] = field(default_factory=list)


@dataclass
class World:
    """The org tree (units in parent-first order) and the people acting in it."""

    units: list[OrgUnit]
    provinces: list[Province]

    @property
    def cities(self) -> list[City]:
        return [city for p in self.provinces for city in p.cities]


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def build_world(seed: int, cities: tuple[int, int], branches: tuple[int, int]) -> World:
    """31 provinces, each with a random number of cities in `cities`, each with branches in `branches`."""
    rng = random.Random(f"{seed}:world")
    units = [OrgUnit("HQ", "集团公司", "hq")]
    provinces = []

    def people(path: str, code: str, place: str) -> dict[str, Actor]:
        return {
            "manager": Actor(sub=f"mgr.{code}", role="manager", org=path, name=_person(rng)),
            "committee": Actor(sub=f"dw.{code}", role="committee", org=path, name=_person(rng)),
            "business": Actor(sub=f"jy.{code}", role="business", org=path, name=_person(rng)),
            "proposer": Actor(sub=f"dj.{code}", role="branch", org=path, name=_person(rng)),
        }

    for p, (province_name, suffix) in enumerate(PROVINCES, start=1):
        code = f"P{p:02d}"
        path = f"HQ/{code}"
        units.append(OrgUnit(path, f"{province_name}{suffix}分公司", "province"))
        province = Province(path=path, **people(path, code, province_name))
        used: set[str] = set()
        for ci in range(1, rng.randint(*cities) + 1):
            city_code = f"{code}C{ci:02d}"
            city_path = f"{path}/C{ci:02d}"
            while True:
                city_name = province_name[:2] + rng.choice(_CITY_WORDS) + rng.choice(_CITY_WORDS)
                if city_name not in used:
                    used.add(city_name)
                    break
            units.append(OrgUnit(city_path, f"{city_name}市分公司", "city"))
            city = City(path=city_path, **people(city_path, city_code, city_name))
            for bi in range(1, rng.randint(*branches) + 1):
                branch_path = f"{city_path}/B{bi:03d}"
                units.append(OrgUnit(branch_path, f"{city_name}{rng.choice(_UNIT_WORDS)}第{bi}党支部", "branch"))
                city.branches.append(branch_path)
            province.cities.append(city)
        provinces.append(province)
    return World(units=units, provinces=provinces)


def branch_actor(path: str) -> Actor:
    """The party branch secretary acting for a branch (sub and name derived from the path: no registry needed)."""
    digest = hashlib.blake2b(path.encode(), digest_size=4).digest()
    name = _SURNAMES[digest[0] % len(_SURNAMES)] + _GIVEN[digest[1] % len(_GIVEN)] + _GIVEN[digest[2] % len(_GIVEN)]
    return Actor(sub="sj." + path.removeprefix("HQ/").replace("/", ""), role="branch", org=path, name=name)


# --- one topic's story ----------------------------------------------------------------------------------------------

# What the topic's users do before they stop acting (the calendar goes on): most go all the way.
OUTCOMES = [
    ("proposed", 2), ("returned", 1), ("reviewed", 2), ("open", 4), ("claim_pending", 2), ("claimed", 2),
    ("plan_submitted", 2), ("in_progress", 6), ("concluding", 2), ("withdrawn", 5), ("concluded", 72),
]
_OUTCOME_NAMES = [name for name, _ in OUTCOMES]
_OUTCOME_WEIGHTS = [weight for _, weight in OUTCOMES]
# Stories that must exist even in a small log (the first topics take these outcomes in turn).
FORCED = ["proposed", "returned", "reviewed", "open", "claim_pending", "claimed", "plan_submitted", "in_progress",
          "concluding", "posting", "withdrawn", "concluded"]

Row = tuple  # (sort_key, event_id, stream_id, version, type, schema_version, data, metadata, occurred, recorded, prev, hash)


_ACTORS: dict[Actor, dict] = {}


def _actor_json(actor: Actor) -> dict:
    """`actor.model_dump(mode="json")`, what the gateway sends as the command's actor (memoised)."""
    found = _ACTORS.get(actor)
    if found is None:
        found = _ACTORS[actor] = actor.model_dump(mode="json")
    return found


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_EXACT = float(2**53)


def _normalized(value: object) -> object:
    """`eventstore.hashing`'s float rule for the plain dicts, lists and scalars `model_dump(mode="json")` gives."""
    kind = type(value)
    if kind is dict:
        return {k: _normalized(v) for k, v in value.items()}
    if kind is list:
        return [_normalized(v) for v in value]
    if kind is float and value.is_integer():
        return int(value) if -_EXACT < value < _EXACT else int(Decimal(repr(value)))
    return value


def _canonical(value: dict) -> str:
    """`eventstore.hashing.canonical_json(value)` (the test checks they agree), faster on plain JSON values."""
    return _encode(_normalized(value))


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class Stop(Exception):
    """The story reached the end of the generated period."""


class TopicStory:
    """Plays one topic from 点题 to wherever its users stop, yielding each recorded command's rows in time order."""

    def __init__(self, seed: int, index: int, world: World, start: dt.datetime, end: dt.datetime,
                 progress_every: tuple[int, int], offset: float | None = None) -> None:
        # Two generators: `rng` draws the users' main line (what they do and when, on their own `clock`), `side`
        # everything else (ids, the calendar's and reactions' timing, payouts), so that moving a topic in time
        # moves its main line with it unchanged.
        self.rng = rng = random.Random(f"{seed}:topic:{index}")
        self.side = random.Random(f"{seed}:side:{index}")
        self.index = index
        self.end = end
        self.progress_every = progress_every
        self.outcome = FORCED[index] if index < len(FORCED) else rng.choices(_OUTCOME_NAMES, _OUTCOME_WEIGHTS)[0]
        self.province = province = world.provinces[rng.randrange(len(world.provinces))]
        self.city = city = province.cities[rng.randrange(len(province.cities))]
        self.owned_by_city = rng.random() < 0.6
        self.owner = city if self.owned_by_city else province
        span = (end - start).total_seconds()
        drawn = rng.random() ** 0.85 * (span - 86400)  # a few more early on (the campaign's start); proposed by the end
        if self.outcome == "posting":  # the trial in `story` moves it; start where ruleset 2 (公示) applies
            drawn = span - 290 * 86400
        self.offset = drawn if offset is None else offset
        self.now = self.clock = start + dt.timedelta(seconds=self.offset)
        self.rules = 2 if self.now >= RULES2_FROM else 1
        raw = uuid.UUID(int=rng.getrandbits(128))
        self.topic_id = f"T-{raw.hex[:12].upper()}"
        self.stream = f"topic-{self.topic_id}"
        self.run_id = str(_uuid(rng))
        self.state: TopicState = initial_state
        self.prev: bytes | None = None
        self.claimant: Actor | None = None
        self.pending: list[tuple[dt.datetime, int, str, tuple]] = []  # reactions: (when, seq, kind, args)
        self._wake_of: tuple = ()
        self._wake: dt.datetime | None = None
        self._seq = 0

    # --- recording ------------------------------------------------------------------------------------------------

    def _run(self, command: c.Command, actor: Actor, now: dt.datetime, *, system_key: str | None = None) -> list[Row]:
        """Decide and record one command (empty when refused or when it records nothing)."""
        ctx = c.Context.model_construct(actor=actor, now=now, timezone=TIMEZONE, policy=POLICY, rules=self.rules)
        try:
            events = decide(self.state, command, ctx)
        except DomainError:
            return []
        if not events:
            return []
        if system_key is None:
            correlation, causation = self.side.getrandbits(128).to_bytes(16).hex(), f"{actor.sub}:{_uuid(self.side)}"
        else:
            correlation, causation = "schedule", f"{system_key}:{self.state.version}"
        metadata = {"actor": _actor_json(actor), "correlation_id": correlation, "causation_id": causation,
                    "command": type(command).__name__, "workflow_id": self.stream, "run_id": self.run_id}
        return self._record(events, metadata, now)

    def _record(self, events: list[Event], metadata: dict, now: dt.datetime) -> list[Row]:
        metadata_json = _canonical(metadata)
        recorded = now + dt.timedelta(microseconds=self.side.randrange(8_000, 90_000))
        key = int(now.timestamp() * 1_000_000)
        rows = []
        prev = self.prev
        for event in events:
            version = self.state.version + 1
            data_json = _canonical(event.to_data())
            schema_version = type(event).SCHEMA_VERSION
            digest = hashlib.sha256(canonical_bytes_from_json(
                stream_id=self.stream, stream_version=version, event_type=event.event_type,
                schema_version=schema_version, data_json=data_json, metadata_json=metadata_json, occurred_at=now,
                prev_hash=prev,
            )).digest()
            event_id = uuid.uuid5(EVENT_ID_NAMESPACE, f"{self.stream}/{version}")
            rows.append((key, event_id, self.stream, version, event.event_type, schema_version, data_json,
                         metadata_json, now, recorded, prev, digest))
            prev = digest
            self.state = evolve(self.state, event)
            self._react(event, now)
        self.prev = prev
        return rows

    def _later(self, at: dt.datetime, kind: str, *args: object) -> None:
        self._seq += 1
        heapq.heappush(self.pending, (at, self._seq, kind, args))

    # --- the calendar (what the workflow's timers do) -----------------------------------------------------------------

    def _calendar(self, until: dt.datetime) -> Iterator[list[Row]]:
        """Every system command due up to `until`, as the workflow runs them when its timer fires, and the users'
        reactions (quarterly reports, assessments, retries) in between, in time order."""
        while True:
            self._release_rewards()
            if self._released:
                yield self._released
            wake = self._next_wakeup()
            reaction_at = self.pending[0][0] if self.pending else None
            if reaction_at is not None and reaction_at <= until and (wake is None or reaction_at <= wake):
                at, _, kind, args = heapq.heappop(self.pending)
                self.now = max(self.now, at)
                rows = self._reaction(kind, args, self.now)
                if rows:
                    yield rows
                continue
            if wake is None or wake > until:
                return
            now = max(wake, self.now) + dt.timedelta(milliseconds=self.side.randrange(20, 2500))
            recorded_any = False
            for command in due_commands(self.state, now, POLICY, TIMEZONE):
                rows = self._run(command, SYSTEM, now, system_key=f"schedule:{type(command).__name__}")
                if rows:
                    recorded_any = True
                    self.now = now
                    yield rows
            if not recorded_any:  # defensive: a due command the rules refuse would otherwise loop forever
                return

    def _next_wakeup(self) -> dt.datetime | None:
        """`domain.schedule.next_wakeup`, computed again only when what it reads changed (a progress report, say,
        changes none of it). The collections are compared by identity: an evolution step copies the state
        shallowly, so an unchanged collection is the same object."""
        s = self.state
        key = (s.status, s.posting_ends_at, s.next_checkpoint, s.due_date, s.checkpoints, s.milestones, s.deadlines)
        known = self._wake_of
        if not known or any(a is not b and a != b for a, b in zip(key[:4], known[:4])) or any(
                a is not b for a, b in zip(key[4:], known[4:])):
            self._wake_of, self._wake = key, next_wakeup(s, POLICY, TIMEZONE)
        return self._wake

    def _release_rewards(self) -> None:
        """The payout activity runs right after a grant: released, or (rarely) refused for a manager to retry."""
        self._released = []
        for reward in [r for r in self.state.rewards if r.status == "granted"]:
            now = self.now + dt.timedelta(seconds=self.side.uniform(0.5, 20))
            if self.side.random() < 0.03:
                command = c.RecordRewardOutcome(key=reward.key, released=False, error="收款账户信息有误")
                self._later(self.now + self.side.uniform(2, 20) * DAY, "retry_reward", reward.key)
            else:
                command = c.RecordRewardOutcome(key=reward.key, released=True,
                                                reference=f"PAY-{self.side.getrandbits(40):010X}")
            self._released += self._run(command, SYSTEM, now, system_key=f"reward:{reward.key}")
            self.now = now

    def _react(self, event: Event, now: dt.datetime) -> None:
        """Users' reactions to what just happened: quarterly reports and their assessment."""
        name = event.event_type
        rng = self.side
        if name == "CheckpointOpened":  # topics whose users stopped working on them are the laggards
            if rng.random() < (0.5 if self.outcome in ("claimed", "plan_submitted", "in_progress") else 0.92):
                self._later(now + rng.uniform(1, 14.5) * DAY, "report", event.quarter)
        elif name == "CheckpointReported":
            if rng.random() < 0.93:
                self._later(now + rng.uniform(0.5, 12) * DAY, "assess", event.quarter)

    def _reaction(self, kind: str, args: tuple, now: dt.datetime) -> list[Row]:
        rng = self.side
        owner = self.owner
        if kind == "report" and self.claimant is not None:
            quarter = args[0]
            results = tuple({"indicator": i.name, "actual": _actual(rng, i.target, i.direction, 0.6)}
                            for i in self.state.indicators[: rng.randint(0, len(self.state.indicators))])
            return self._run(c.FileCheckpointReport(quarter=quarter, progress_pct=rng.randint(5, 95),
                                                    summary=f"{quarter}季度工作进展：按计划推进，部分指标已改善",
                                                    indicators=results), self.claimant, now)
        if kind == "assess":
            score = round(min(100.0, max(0.0, rng.gauss(82, 9))), 1)
            rating = "on_track" if score >= 80 else "at_risk" if score >= 60 else "off_track"
            return self._run(c.AssessCheckpoint(quarter=args[0], score=score, rating=rating,
                                                comment="季度管控会评议"), owner.manager, now)
        if kind == "retry_reward":
            return self._run(c.RetryRewardRelease(key=args[0]), owner.manager, now)
        return []

    # --- the users' main line ------------------------------------------------------------------------------------------

    def play(self, finals: dict[str, TopicState] | None = None) -> Iterator[list[Row]]:
        """Each recorded command's rows, in time order, up to the end of the period."""
        try:
            yield from self._main_line()
            yield from self._until(self.end)
        except Stop:
            pass
        if finals is not None:
            finals[self.topic_id] = self.state

    def _until(self, when: dt.datetime) -> Iterator[list[Row]]:
        """Calendar and reactions up to `when` (but never past the end of the period)."""
        limit = min(when, self.end)
        yield from self._calendar(limit)
        self.now = max(self.now, limit)
        if when > self.end:
            raise Stop

    def _act(self, days: float, command: c.Command, actor: Actor) -> Iterator[list[Row]]:
        """After `days`, `actor` sends `command` (the calendar and reactions run up to then first)."""
        when = self.clock = self.clock + days * DAY + dt.timedelta(seconds=self.rng.uniform(0, 3600))
        yield from self._until(when)
        self.now = max(when, self.now)
        rows = self._run(command, actor, self.now)
        if rows:
            yield rows

    def _stop_at(self, status: str) -> bool:
        return self.outcome == status

    def _main_line(self) -> Iterator[list[Row]]:
        rng = self.rng
        owner, province = self.owner, self.province
        category = rng.choice(list(CATEGORIES))
        indicators = [{"name": n, "target": t, "unit": u, "direction": d}
                      for n, t, u, d in rng.sample(CATEGORIES[category], rng.randint(1, len(CATEGORIES[category])))]
        reward = {"amount": rng.choice((2000, 3000, 5000, 8000, 10000, 20000)), "unit": "CNY"} \
            if rng.random() < 0.7 else None
        days = rng.uniform(200, 280) if self.outcome == "posting" else rng.uniform(200, 520)
        due = (self.clock + days * DAY).astimezone(ZONE).date()
        title = rng.choice(_TITLES[category])
        proposer = owner.proposer if rng.random() < 0.7 else owner.manager
        content = {"title": title, "description": f"{title}：现状分析、目标与主要措施（{category}）",
                   "category": category, "indicators": indicators, "due_date": due, "reward": reward}
        yield from self._act(0, c.ProposeTopic(topic_id=self.topic_id, org=owner.path, **content), proposer)
        if self._stop_at("proposed"):
            return
        withdraw_at = rng.choice(["reviewed", "open", "claimed", "in_progress", "concluding"]) \
            if self._stop_at("withdrawn") else None
        # 点题: review by the leader in charge, sometimes returned for revision; confirmation by the committee.
        if rng.random() < 0.12 or self._stop_at("returned"):
            yield from self._act(rng.uniform(1, 8), c.ReviewProposal(decision="return", comment="指标需量化，请修改"),
                                 owner.manager)
            if self._stop_at("returned"):
                return
            revised = dict(content, description=content["description"] + "（已按审核意见修改）")
            yield from self._act(rng.uniform(1, 6), c.ReviseProposal(**revised), proposer)
        yield from self._act(rng.uniform(1, 8), c.ReviewProposal(decision="approve", comment="同意"), owner.manager)
        if self._stop_at("reviewed"):
            return
        if withdraw_at == "reviewed":
            yield from self._withdraw()
            return
        yield from self._act(rng.uniform(1, 10), c.PublishTopic(comment="党委会议确定"), owner.committee)
        if self._stop_at("open"):
            return
        if withdraw_at == "open":
            yield from self._withdraw()
            return
        # 领题: a branch claims it, the business department confirms (or rejects: another branch claims).
        branches = self.city.branches if self.owned_by_city else province.branches
        for attempt in range(3):
            claimant = branch_actor(rng.choice(branches))
            yield from self._act(rng.uniform(1, 25), c.ClaimTopic(org=claimant.org, note="我支部认领"), claimant)
            if self._stop_at("claim_pending"):
                return
            claim_id = self.state.claim.claim_id if self.state.claim else "C1"
            reject = attempt < 2 and rng.random() < 0.1
            yield from self._act(rng.uniform(0.5, 6), c.DecideClaim(
                claim_id=claim_id, decision="reject" if reject else "confirm",
                comment="与支部职责不匹配" if reject else "双向沟通确认"), province.business)
            if not reject:
                break
        self.claimant = claimant
        if self._stop_at("claimed"):
            return
        if withdraw_at == "claimed":
            yield from self._withdraw(rng.uniform(10, 60))
            return
        # 破题: a plan with milestones (some with 破题奖励), approved by the leader in charge.
        for attempt in range(2):
            plan_day = (self.clock + 12 * DAY).astimezone(ZONE).date()
            milestones = self._milestones(plan_day, due)
            yield from self._act(rng.uniform(3, 12), c.SubmitPlan(summary="PDCA 循环：计划、执行、检查、改进",
                                                                 milestones=milestones), claimant)
            if self._stop_at("plan_submitted"):
                return
            back = attempt == 0 and rng.random() < 0.1
            yield from self._act(rng.uniform(1, 7), c.DecidePlan(decision="return" if back else "approve",
                                                               comment="措施需细化" if back else "同意"),
                                 owner.manager)
            if not back:
                break
        if self.state.status != "in_progress":
            return
        stall = self._stop_at("in_progress") or withdraw_at == "in_progress"
        for index, milestone in enumerate(self.state.milestones):
            if stall and index == len(self.state.milestones) // 2:
                break
            yield from self._progress_until(milestone.due_date, claimant)
            for attempt in range(2):
                yield from self._act(rng.uniform(0, 3), c.SubmitMilestoneCompletion(
                    key=milestone.key, evidence=f"{milestone.title}完成情况报告"), claimant)
                back = attempt == 0 and rng.random() < 0.08
                yield from self._act(rng.uniform(1, 8), c.DecideMilestone(
                    key=milestone.key, decision="return" if back else "approve",
                    comment="佐证材料不足" if back else "通过"), owner.manager)
                if not back:
                    break
        if withdraw_at == "in_progress":
            yield from self._withdraw(rng.uniform(20, 90))
            return
        if stall:
            return
        # 结题: results against the indicators, near the due date (some late).
        yield from self._progress_until(due, claimant, slack=rng.gauss(-10, 20))
        results = [{"indicator": i["name"], "actual": _actual(rng, i["target"], i["direction"], 0.8)}
                   for i in indicators]
        yield from self._act(rng.uniform(0, 5), c.SubmitConclusion(summary="指标达成，形成长效机制",
                                                                  results=results), claimant)
        if withdraw_at == "concluding":
            yield from self._withdraw(rng.uniform(3, 20))
            return
        if rng.random() < 0.06:
            yield from self._act(rng.uniform(2, 10), c.DecideConclusion(decision="reject", comment="成效佐证不足"),
                                 owner.manager)
            yield from self._act(rng.uniform(5, 30), c.SubmitConclusion(summary="补充成效材料后重新提交",
                                                                       results=results), claimant)
        if self._stop_at("concluding"):
            if self.rules == 2:
                yield from self._evaluate(claimant, rng.randint(0, 3))
            return
        if self.rules == 2:
            yield from self._evaluate(claimant, 4)
        for _ in range(2):
            yield from self._act(rng.uniform(1, 6), c.DecideConclusion(decision="approve", comment="同意结题"),
                                 owner.manager)
            if self.rules == 2 and rng.random() < 0.03:  # an objection during 公示: endorsed again later
                objector = branch_actor(rng.choice(branches))
                yield from self._act(rng.uniform(0.5, 4), c.RaiseObjection(reason="成效数据有待核实"), objector)
                yield from self._act(rng.uniform(3, 15), c.SubmitEvaluation(party="leader", score=85,
                                                                            comment="核实后评价"), owner.manager)
                continue
            break

    def _withdraw(self, days: float | None = None) -> Iterator[list[Row]]:
        days = self.rng.uniform(2, 30) if days is None else days
        yield from self._act(days, c.WithdrawTopic(reason="工作调整，课题撤销"), self.owner.committee)

    def _evaluate(self, claimant: Actor, parties: int) -> Iterator[list[Row]]:
        """四方评价: the first `parties` parties score the conclusion."""
        rng = self.rng
        branches = self.city.branches if self.owned_by_city else self.province.branches
        others = [b for b in branches if b != claimant.org] or branches
        speakers = {"grassroots": branch_actor(rng.choice(others)), "self": claimant,
                    "peer": self.province.business, "leader": self.owner.manager}
        for party in list(speakers)[:parties]:
            score = round(min(100.0, max(40.0, rng.gauss(86, 7))), 1)
            yield from self._act(rng.uniform(0.5, 5), c.SubmitEvaluation(party=party, score=score, comment="评价意见"),
                                 speakers[party])

    def _progress_until(self, day: dt.date, claimant: Actor, slack: float = 0.0) -> Iterator[list[Row]]:
        """Progress reports every `progress_every` days until `day` (+ `slack` days); then the users' clock is there."""
        rng = self.rng
        target = dt.datetime.combine(day, dt.time(10), tzinfo=ZONE).astimezone(UTC) + slack * DAY
        target += rng.gauss(-4, 5) * DAY
        low, high = self.progress_every
        while True:
            step = rng.uniform(low, high)
            if self.clock + step * DAY >= target:
                break
            pct = min(95, int(100 * (1 - (target - self.clock) / (target - self.clock + 200 * DAY))))
            yield from self._act(step, c.ReportProgress(progress_pct=max(5, pct), summary="按计划推进，阶段成效初显"),
                                 claimant)
        if target > self.clock:
            self.clock = target
            yield from self._until(target)

    def _milestones(self, first: dt.date, due: dt.date) -> list[dict]:
        rng = self.rng
        count = rng.randint(2, 4)
        span = max(1, (due - first).days)
        titles = rng.sample(_MILESTONES, count)
        milestones = []
        for k in range(count):
            day = first + dt.timedelta(days=max(1, int(span * (k + 1) / (count + 0.5))))
            spec = {"key": f"m{k + 1}", "title": titles[k], "due_date": min(day, due)}
            if rng.random() < 0.25:
                spec["reward"] = {"amount": rng.choice((500, 1000, 2000)), "unit": "CNY"}
            milestones.append(spec)
        return milestones


def _actual(rng: random.Random, target: float, direction: str, hit: float) -> float:
    """An indicator's actual value: meets the target with probability `hit`."""
    met = rng.random() < hit
    if target == 0:
        return 0 if met else rng.randint(1, 3)
    spread = abs(target) * rng.uniform(0.005, 0.08)
    up = (direction == "at_least") == met
    return round(target + spread if up else target - spread, 2)


# --- the whole log --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What to generate: `topics` topics over the period, org tree sizes, and the seed."""

    topics: int
    seed: int = 20261121
    cities: tuple[int, int] = (8, 16)
    branches: tuple[int, int] = (10, 40)
    progress_every: tuple[int, int] = (6, 15)
    start: dt.datetime = START
    end: dt.datetime = END


def topic_story(plan: Plan, world: World, index: int,
                finals: dict[str, TopicState] | None = None) -> Iterator[list[Row]]:
    """Topic `index`'s rows, one recorded command at a time. A topic meant to end in 公示 is moved in time (by
    trial: its users' timeline is the same) until its conclusion is endorsed a couple of days before the end."""
    topic = TopicStory(plan.seed, index, world, plan.start, plan.end, plan.progress_every)
    if topic.outcome != "posting":
        return topic.play(finals)
    far = plan.end + dt.timedelta(days=3 * 365)
    offset = topic.offset
    for _ in range(4):
        probe = TopicStory(plan.seed, index, world, plan.start, far, plan.progress_every, offset)
        endorsed = next((row[8] for rows in probe.play() for row in rows if row[4] == "ConclusionEndorsed"), None)
        if endorsed is None:
            break
        shift = (plan.end - dt.timedelta(days=2) - endorsed).total_seconds()
        if abs(shift) < 86400:
            break
        offset = max(0.0, offset + shift)
    return TopicStory(plan.seed, index, world, plan.start, plan.end, plan.progress_every, offset).play(finals)


def topic_rows(plan: Plan, world: World, indexes: range | list[int],
               finals: dict[str, TopicState] | None = None) -> Iterator[Row]:
    """The rows of the topics `indexes`, merged in global time order; `finals` gets each topic's last state."""
    heap: list[tuple[int, int, int, list[Row], Iterator[list[Row]]]] = []
    for index in indexes:
        story_ = topic_story(plan, world, index, finals)
        first = next(story_, None)
        if first is not None:
            heap.append((first[0][0], index, first[0][3], first, story_))
    heapq.heapify(heap)
    while heap:
        _, index, _, rows, story = heap[0]
        yield from rows
        following = next(story, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[0][0], index, following[0][3], following, story))


COPY_COLUMNS = ("event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata",
                "occurred_at", "recorded_at", "prev_hash", "hash")


def copy_line(row: Row) -> bytes:
    """The row as one line of COPY's text format (columns COPY_COLUMNS). Canonical JSON has no raw control
    characters, so only its backslashes need escaping."""
    _, event_id, stream, version, event_type, schema_version, data, metadata, occurred, recorded, prev, digest = row
    return (f"{event_id}\t{stream}\t{version}\t{event_type}\t{schema_version}\t{data.replace(_BS, _BS2)}\t"
            f"{metadata.replace(_BS, _BS2)}\t{occurred.isoformat()}\t{recorded.isoformat()}\t"
            f"{_NULL if prev is None else _HEX + prev.hex()}\t{_HEX}{digest.hex()}\n").encode()


_BS, _BS2, _NULL, _HEX = "\\", "\\\\", "\\N", "\\\\x"
