"""Reports as of any date, over HTTP against a seeded year of history.

The history is written straight into the log with the real decider (`domain.decide`) and `EventStore.append`, at
chosen business times spanning 2025; the projector of the e2e stack projects it. The expected numbers are computed
here from the rows of the `events` table alone (no read model), then compared with the API's answers.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from domain import Actor, Context, decide, fold, initial_state
from domain import commands as cmd
from domain.orgs import contains
from domain.state import TopicState
from domain.values import Indicator, IndicatorResult, MilestoneSpec
from eventstore import EventStore, NewEvent
from tests.e2e.conftest import stack  # noqa: F401  (the e2e stack fixture: real API, projector, PostgreSQL)
from tests.e2e.stack import ORG_TREE, Stack, bearer

# Seeded history is written under ruleset 1 (approval concludes at once), like topics started before
# 四方评价 and 公示 existed; ruleset 2's conclusion path is covered by the workflow and e2e tests.
HISTORY_RULES = 1

TZ = ZoneInfo("Asia/Shanghai")
NS = uuid.UUID("0c2f7f4e-2d55-4a0e-9a3b-5b8f0e6a1d21")
GROUP = ("HQ/SX/TY/B017/G1", "第十七支部第一党小组", "group")
UNREGISTERED = "HQ/SX/NEW/B9"  # claims may name units nobody registered (yet)
TOPIC_ORGS = ["HQ", "HQ/SX", "HQ/SX", "HQ/SX/TY", "HQ/BJ"]
CATEGORIES = ["经营管理", "服务质量", "财务管理"]
AUDITOR = bearer("auditor", "HQ", "auditor")
COUNTS = ("claimed", "concluded", "in_progress", "withdrawn", "completion_rate", "units_claimed", "units_total")


def person(role: str, org: str) -> Actor:
    return Actor(sub=f"{role}.{org}", role=role, org=org, name=f"{role} {org}")


@dataclass
class Topic:
    store: EventStore
    topic_id: str
    org: str
    claim_org: str
    category: str
    state: TopicState = initial_state

    async def do(self, command: cmd.Command, actor: Actor, when: datetime) -> None:
        events = decide(self.state, command, Context(actor=actor, now=when, rules=HISTORY_RULES))
        await self.store.append(f"topic-{self.topic_id}", self.state.version, [
            NewEvent(event_id=uuid.uuid5(NS, f"{self.topic_id}/{self.state.version + i}"), event_type=e.event_type,
                     data=e.to_data(), occurred_at=when,
                     metadata={"actor": actor.model_dump(), "correlation_id": f"seed-{self.topic_id}"})
            for i, e in enumerate(events, start=1)])
        self.state = fold(events, self.state)


def _step(t: Topic, name: str) -> tuple[cmd.Command, Actor]:
    manager, branch = person("manager", t.org), person("branch", t.claim_org)
    claim_id = t.state.claim.claim_id if t.state.claim else ""
    return {
        "propose": lambda: (cmd.ProposeTopic(
            topic_id=t.topic_id, org=t.org, title=f"课题 {t.topic_id}", description="提升效率", category=t.category,
            due_date=date(2026, 12, 31), indicators=(Indicator(name="rate", target=98.5, unit="%"),)), manager),
        "approve": lambda: (cmd.ReviewProposal(decision="approve", comment="同意"), manager),
        "publish": lambda: (cmd.PublishTopic(comment="党委确定"), person("committee", t.org)),
        "claim": lambda: (cmd.ClaimTopic(org=t.claim_org, note="领题"), branch),
        "reject_claim": lambda: (cmd.DecideClaim(claim_id=claim_id, decision="reject"), person("business", t.org)),
        "confirm_claim": lambda: (cmd.DecideClaim(claim_id=claim_id, decision="confirm"),
                                  person("business", t.org)),
        "plan": lambda: (cmd.SubmitPlan(summary="PDCA", milestones=(
            MilestoneSpec(key="m1", title="调研", due_date=date(2026, 6, 30)),)), branch),
        "approve_plan": lambda: (cmd.DecidePlan(decision="approve"), manager),
        "milestone": lambda: (cmd.SubmitMilestoneCompletion(key="m1", evidence="报告"), branch),
        "approve_milestone": lambda: (cmd.DecideMilestone(key="m1", decision="approve"), manager),
        "conclude": lambda: (cmd.SubmitConclusion(summary="达标", results=(
            IndicatorResult(indicator="rate", actual=99.0),)), branch),
        "approve_conclusion": lambda: (cmd.DecideConclusion(decision="approve", comment="通过"), manager),
        "withdraw": lambda: (cmd.WithdrawTopic(reason="合并"), person("committee", t.org)),
    }[name]()


LIFE = ["propose", "approve", "publish", "claim", "confirm_claim", "plan", "approve_plan", "milestone",
        "approve_milestone", "conclude", "approve_conclusion"]


def _script(rng: random.Random) -> list[str]:
    steps = LIFE[:4] + (["reject_claim", "claim"] if rng.random() < 0.2 else []) + LIFE[4:]
    cut = rng.choice([len(steps)] * 2 + list(range(3, len(steps))))
    return steps[:cut] + (["withdraw"] if cut < len(steps) and rng.random() < 0.35 else [])


def _claimants(org: str) -> list[str]:
    units = [p for p, _, kind in [*ORG_TREE, GROUP] if contains(org, p) and kind in ("branch", "group")]
    return units * 3 + [org] + ([UNREGISTERED] if contains(org, UNREGISTERED) else [])


async def seed_year(stack: Stack, count: int = 40, seed: int = 2025) -> None:
    """Register a party group under B017, then `count` topics at random stages through 2025, their commands
    interleaved in business-time order (times at any minute of the day, so some fall near local midnight)."""
    admin = bearer("admin", "HQ", "admin")
    path, name, kind = GROUP
    created = await stack.as_(admin, "POST", "/v1/orgs", json={"path": path, "name": name, "kind": kind})
    assert created.status_code == 201, created.text
    rng, store, timeline = random.Random(seed), EventStore(stack.pool), []
    topics = []
    for n in range(count):
        org = rng.choice(TOPIC_ORGS)
        topic = Topic(store, f"Y{n:03d}", org, rng.choice(_claimants(org)), rng.choice(CATEGORIES))
        when = datetime(2025, 1, 2, tzinfo=TZ) + timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 1439))
        for step in _script(rng):
            timeline.append((when, n, step))
            when += timedelta(days=rng.randint(1, 25), minutes=rng.randint(0, 1439))
        topics.append(topic)
    for when, n, step in sorted(timeline):
        command, actor = _step(topics[n], step)
        await topics[n].do(command, actor, when)
    await stack.wait_until_projected()


# --- the expected numbers, from the events table alone ---------------------------------------------------------


async def logged_topics(pool: asyncpg.Pool) -> list[list[asyncpg.Record]]:
    rows = await pool.fetch("SELECT stream_id, event_type, data, occurred_at FROM events "
                            "WHERE stream_id LIKE 'topic-%' ORDER BY stream_id, stream_version")
    streams: dict[str, list] = defaultdict(list)
    for row in rows:
        streams[row["stream_id"]].append(row)
    return list(streams.values())


def topic_at(events: list[asyncpg.Record], instant: datetime) -> dict[str, Any] | None:
    """(claim_org, category, concluded, withdrawn) of a topic whose claim was confirmed by `instant`, else None."""
    pending = claim_org = category = None
    concluded = withdrawn = False
    for e in (e for e in events if e["occurred_at"] <= instant):
        kind, data = e["event_type"], e["data"]
        if kind in ("TopicProposed", "ProposalRevised"):
            category = data["category"]
        elif kind == "TopicClaimed":
            pending = data["org"]
        elif kind == "ClaimRejected":
            pending = None
        elif kind == "ClaimConfirmed":
            claim_org, pending = pending, None
        elif kind == "ConclusionApproved":
            concluded = True
        elif kind == "TopicWithdrawn":
            withdrawn = True
    if claim_org is None:
        return None
    return {"claim_org": claim_org, "category": category, "concluded": concluded, "withdrawn": withdrawn}


def units_below(org: str) -> int:
    return sum(1 for p, _, kind in [*ORG_TREE, GROUP] if kind in ("branch", "group") and contains(org, p))


def expected(topics: list[dict[str, Any]], units_total: int) -> dict[str, Any]:
    live = [t for t in topics if not t["withdrawn"]]
    claimed, concluded = len(live), sum(t["concluded"] for t in live)
    return {"claimed": claimed, "concluded": concluded, "in_progress": claimed - concluded,
            "withdrawn": len(topics) - claimed, "completion_rate": round(concluded / claimed, 4) if claimed else 0.0,
            "units_claimed": len({t["claim_org"] for t in live}), "units_total": units_total}


def oracle(streams: list, org: str, instant: datetime) -> dict[str, Any]:
    """The report's total, rows per child (the unit itself as `org`) and per category, computed from events."""
    claims = [c for c in (topic_at(s, instant) for s in streams) if c and contains(org, c["claim_org"])]
    children: dict[str, list] = defaultdict(list)
    categories: dict[str, list] = defaultdict(list)
    depth = org.count("/") + 1
    for c in claims:
        children["/".join(c["claim_org"].split("/")[:depth + 1])].append(c)
        categories[c["category"]].append(c)
    return {
        "total": expected(claims, units_below(org)),
        "child": {k: expected(v, units_below(k) if k != org else 0) for k, v in children.items()},
        "category": {k: expected(v, units_below(org)) for k, v in categories.items()},
    }


def numbers(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in COUNTS}


async def get(stack: Stack, path: str) -> dict[str, Any]:
    response = await stack.as_(AUDITOR, "GET", path)
    assert response.status_code == 200, response.text
    return response.json()


# --- the tests ---------------------------------------------------------------------------------------------------

AS_OF_DATES = ["2025-01-31", "2025-03-15", "2025-06-30", "2025-09-30", "2025-12-31", "2026-03-31"]


async def test_report_as_of_past_dates_equals_counts_from_the_events(stack: Stack):
    await seed_year(stack)
    streams = await logged_topics(stack.pool)
    assert len(streams) == 40
    seen_claims = 0
    for day in AS_OF_DATES:
        instant = datetime.fromisoformat(day).replace(tzinfo=TZ) + timedelta(days=1, microseconds=-1)
        for org in ("HQ", "HQ/SX", "HQ/SX/TY"):
            want = oracle(streams, org, instant)
            report = await get(stack, f"/v1/reports/completion?org={org}&as_of={day}")
            assert numbers(report["total"]) == want["total"], (day, org)
            rows = {row["org"]: numbers(row) for row in report["rows"] if row["claimed"] or row["withdrawn"]}
            assert rows == want["child"], (day, org)
            by_category = await get(stack, f"/v1/reports/completion?org={org}&as_of={day}&group_by=category")
            assert {r["category"]: numbers(r) for r in by_category["rows"]} == want["category"], (day, org)
            seen_claims += want["total"]["claimed"]
    assert seen_claims > 20, "the seeded history should hold claims at most of these dates"
    # A datetime as_of, in between two days.
    instant = datetime(2025, 7, 15, 12, 0, tzinfo=TZ)
    report = await get(stack, "/v1/reports/completion?org=HQ&as_of=2025-07-15T12:00:00%2B08:00")
    assert numbers(report["total"]) == oracle(streams, "HQ", instant)["total"]


async def test_trend_points_equal_the_report_as_of_each_point(stack: Stack):
    await seed_year(stack)
    streams = await logged_topics(stack.pool)
    monthly = await get(stack, "/v1/reports/completion/trend?org=HQ/SX&from=2025-01-10&to=2025-12-20")
    assert [p["period"] for p in monthly["points"]] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert monthly["points"][0]["at"] == "2025-01-31T23:59:59.999999+08:00"
    assert monthly["points"][-1]["at"] == "2025-12-20T23:59:59.999999+08:00"  # clipped to `to`
    quarterly = await get(stack, "/v1/reports/completion/trend?org=HQ/SX&from=2025-02-01&to=2026-01-31"
                                 "&interval=quarter")
    assert [p["period"] for p in quarterly["points"]] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1"]
    for point in monthly["points"] + quarterly["points"]:
        at = point.pop("at")
        point.pop("period")
        report = await get(stack, f"/v1/reports/completion?org=HQ/SX&as_of={at.replace('+', '%2B')}")
        assert point == numbers(report["total"]), at
        assert point == oracle(streams, "HQ/SX", datetime.fromisoformat(at))["total"], at
    assert monthly["points"][-1]["claimed"] > 0
    assert [p["claimed"] + p["withdrawn"] for p in monthly["points"]] == sorted(
        p["claimed"] + p["withdrawn"] for p in monthly["points"])  # cumulative: never shrinks


async def test_coverage_counts_units_of_the_subtree_and_distinct_claimants(stack: Stack):
    await seed_year(stack)
    report = await get(stack, "/v1/reports/completion?org=HQ&as_of=2025-12-31")
    assert report["total"]["units_total"] == 5  # four branches and one party group
    units = {row["org"]: row["units_total"] for row in report["rows"]}
    assert units == {"HQ/SX": 4, "HQ/BJ": 1, **({"HQ": 0} if "HQ" in units else {})}


async def test_trend_rejects_a_reversed_or_too_long_range(stack: Stack):
    reversed_range = await stack.as_(AUDITOR, "GET", "/v1/reports/completion/trend?from=2025-06-01&to=2025-01-01")
    assert reversed_range.status_code == 422
    assert reversed_range.json()["error"]["code"] == "request.invalid"
    too_long = await stack.as_(AUDITOR, "GET", "/v1/reports/completion/trend?from=1900-01-01&to=2025-01-01")
    assert too_long.status_code == 422
    outside = await stack.as_(bearer("manager", "HQ/SX"), "GET", "/v1/reports/completion/trend?org=HQ/BJ")
    assert (outside.status_code, outside.json()["error"]["code"]) == (403, "org.out_of_scope")
    default = await stack.as_(bearer("manager", "HQ/SX"), "GET", "/v1/reports/completion/trend")
    assert default.status_code == 200 and len(default.json()["points"]) == 12
