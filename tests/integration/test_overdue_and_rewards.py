"""What is overdue (分级督办) and rewards promised vs released, against a real PostgreSQL; and the control reports
over HTTP on the real API.

History comes from the real decider at chosen business times (see tests/integration/test_board.py's `Topic`): users
under HISTORY_RULES, the workflow's timers and payout outcomes as the `SYSTEM` actor, and ruleset 2 (四方评价, 公示,
reward tiers) for the topic whose conclusion reward is released.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from domain import commands as cmd
from domain.actors import SYSTEM
from domain.values import IndicatorResult, MilestoneSpec, Reward
from eventstore import EventStore
from projections import Projector
from projections.engine import create_read_engine
from projections.orgs import OrgDirectory
from projections.queries.overdue import OverdueReports
from projections.queries.rewards import RewardReports, period_bounds
from tests.e2e.conftest import stack  # noqa: F401  (the e2e stack fixture: real API, projector, PostgreSQL)
from tests.e2e.stack import Stack, bearer
from tests.integration.test_board import org_tree  # noqa: F401  (fixture)
from tests.integration.test_board import ORG_TREE, Q3, TZ, Topic, at, person, seed_quarter

M1 = MilestoneSpec(key="m1", title="摸底调研", due_date=date(2026, 5, 31))


async def seed_overdue(store: EventStore) -> dict[str, Topic]:
    """O1: milestone m1 (due 2026-05-31) missed, escalated twice (TY, then SX); O2: the topic's own due date
    (2026-06-10) missed, not escalated; O3: missed in another province; O4: two checkpoints missed in a row."""
    topics = {
        "O1": Topic(store, "O1", "HQ/SX/TY/B1"), "O2": Topic(store, "O2", "HQ/SX/DT/B1"),
        "O3": Topic(store, "O3", "HQ/HB/WH/B1"), "O4": Topic(store, "O4", "HQ/SX/DT/B2"),
    }
    for n, topic in enumerate(topics.values()):
        await topic.claimed(at("2026-02-02") + timedelta(days=n), milestones=(M1,),
                            due=date(2026, 6, 10) if topic.topic_id == "O2" else date(2027, 12, 31))
    due_end = datetime(2026, 6, 1, tzinfo=TZ)  # the end of 2026-05-31 in Shanghai
    for topic in (topics["O1"], topics["O3"]):
        await topic.do(cmd.MarkDeadlineMissed(kind="milestone", key="m1"), SYSTEM, due_end)
    for days in (7, 14, 21):  # the third finds the top level (2) reached: it records nothing
        await topics["O1"].do(cmd.Escalate(kind="milestone", key="m1"), SYSTEM, due_end + timedelta(days=days))
    await topics["O2"].do(cmd.MarkDeadlineMissed(kind="topic", key="topic"), SYSTEM, datetime(2026, 6, 11, tzinfo=TZ))
    await topics["O4"].missed("2026Q2")
    await topics["O4"].missed(Q3)
    return topics


async def test_overdue_lists_the_escalated_milestone_until_it_is_reported(event_store, pool, engine, org_tree):
    topics = await seed_overdue(event_store)
    projector = Projector(pool)
    await projector.catch_up()
    reports = OverdueReports(engine)

    report = await reports.overdue("HQ/SX", date(2026, 6, 20))
    assert [(i["topic_id"], i["kind"], i["key"], i["level"], i["escalated_to"]) for i in report["items"]] == [
        ("O1", "milestone", "m1", 2, "HQ/SX"), ("O2", "topic", "topic", 0, None)]
    o1 = report["items"][0]
    assert (o1["title"], o1["item_title"], o1["claimed_by"], o1["claimed_by_name"]) == (
        "课题 O1", "摸底调研", "HQ/SX/TY/B1", "迎泽党支部")
    assert (o1["due_date"], o1["missed_at"], o1["escalated_at"]) == (
        date(2026, 5, 31), datetime(2026, 6, 1, tzinfo=TZ), datetime(2026, 6, 15, tzinfo=TZ))
    assert (o1["escalated_to_name"], o1["days_overdue"]) == ("山西省分公司", 20)
    assert (report["total"], report["by_level"]) == (2, {"0": 1, "2": 1})
    assert report["reminders"] == [{
        "org": "HQ/SX/DT/B2", "name": "大同第二党支部", "interviews": 1, "topics": 1,
        "latest_at": datetime(2026, 10, 16, tzinfo=TZ),
        "items": [{"topic_id": "O4", "title": "课题 O4", "quarters": ["2026Q2", "2026Q3"],
                   "required_at": datetime(2026, 10, 16, tzinfo=TZ)}]}]
    everything = await reports.overdue("HQ", date(2026, 6, 20))
    assert [i["topic_id"] for i in everything["items"]] == ["O1", "O3", "O2"]  # oldest due date first
    assert [i["topic_id"] for i in (await reports.overdue("HQ/SX/TY", date(2026, 6, 20)))["items"]] == ["O1"]

    o1_topic = topics["O1"]
    await o1_topic.do(cmd.SubmitMilestoneCompletion(key="m1", evidence="调研报告"), o1_topic.branch, at("2026-06-21"))
    await topics["O2"].do(cmd.WithdrawTopic(reason="合并"), person("committee", "HQ/SX"), at("2026-06-22"))
    await projector.catch_up()
    after = await reports.overdue("HQ", date(2026, 6, 25))
    assert [i["topic_id"] for i in after["items"]] == ["O3"]  # resolved and withdrawn ones are gone
    resolved = await pool.fetchrow("SELECT level, resolved_at FROM control_deadlines WHERE topic_id = 'O1'")
    assert tuple(resolved) == (2, at("2026-06-21"))


# --- rewards -------------------------------------------------------------------------------------------------

SCORES_80 = {"grassroots": 80, "self": 80, "peer": 80, "leader": 80}  # final 80: the 80% tier


async def conclude_with_reward(topic: Topic, when: datetime) -> None:
    """结题 under ruleset 2: results, 四方评价, endorsement, 公示 ends (SYSTEM): 80% of the promised reward is granted."""
    await topic.do(cmd.SubmitConclusion(summary="达标", results=(IndicatorResult(indicator="rate", actual=99.0),)),
                   topic.branch, when)
    speakers = {"grassroots": person("branch", "HQ/SX/TY/B2"), "self": topic.branch,
                "peer": person("business", topic.org), "leader": topic.manager}
    for party, score in SCORES_80.items():
        await topic.do(cmd.SubmitEvaluation(party=party, score=score), speakers[party], when + timedelta(days=1))
    await topic.do(cmd.DecideConclusion(decision="approve"), topic.manager, when + timedelta(days=2))
    await topic.do(cmd.CompletePosting(), SYSTEM, when + timedelta(days=7))


async def seed_rewards(store: EventStore) -> dict[str, Topic]:
    """R1 (TY/B1, 5000 promised, claimed 2026-02): milestone reward 800 granted and released in May; conclusion
    granted 4000 (80%) on 2026-09-08, refused by the payout system, retried and released on 2026-10-08.
    R2 (DT/B1, 3000, claimed 2026-03): in progress. R3 (DT/B2, 2000): withdrawn. R4 (TY/B2, 1000): claimed in 2025.
    R5 (HB, 9000): another province."""
    topics = {
        "R1": Topic(store, "R1", "HQ/SX/TY/B1", rules=2), "R2": Topic(store, "R2", "HQ/SX/DT/B1"),
        "R3": Topic(store, "R3", "HQ/SX/DT/B2"), "R4": Topic(store, "R4", "HQ/SX/TY/B2"),
        "R5": Topic(store, "R5", "HQ/HB/WH/B1"),
    }
    r1 = topics["R1"]
    await r1.claimed(at("2026-02-10"), milestones=(M1.model_copy(update={"reward": Reward(amount=800)}),))
    await topics["R2"].claimed(at("2026-03-05"), reward=3000)
    await topics["R3"].claimed(at("2026-03-06"), reward=2000)
    await topics["R3"].do(cmd.WithdrawTopic(reason="合并"), person("committee", "HQ/SX"), at("2026-04-01"))
    await topics["R4"].claimed(at("2025-12-20"), reward=1000)
    await topics["R5"].claimed(at("2026-02-11"), reward=9000)
    await r1.do(cmd.SubmitMilestoneCompletion(key="m1", evidence="报告"), r1.branch, at("2026-05-20"))
    await r1.do(cmd.DecideMilestone(key="m1", decision="approve"), r1.manager, at("2026-05-25"))
    await r1.do(cmd.RecordRewardOutcome(key="milestone:m1", released=True, reference="PAY-1"), SYSTEM,
                at("2026-05-25", 11))
    await conclude_with_reward(r1, at("2026-09-01"))
    await r1.do(cmd.RecordRewardOutcome(key="conclusion", released=False, error="HTTP 422"), SYSTEM,
                at("2026-09-08", 11))
    return topics


def amounts(row: dict) -> tuple:
    return tuple(row[k] for k in ("promised", "granted", "released", "failed", "pending"))


def table(report: dict) -> dict:
    rows = {(r["org"], r["unit"]): amounts(r) for r in report["rows"]}
    rows.update({("TOTAL", t["unit"]): amounts(t) for t in report["totals"]})
    return rows


async def test_rewards_sum_promised_granted_and_released_per_unit_and_period(event_store, pool, engine, org_tree):
    topics = await seed_rewards(event_store)
    projector = Projector(pool)
    await projector.catch_up()
    reports = RewardReports(engine)

    refused = table(await reports.rewards("HQ/SX"))  # promised, granted, released, failed, pending
    assert refused == {("HQ/SX/DT", "CNY"): (3000, 0, 0, 0, 0),  # the withdrawn topic's promise is gone
                       ("HQ/SX/TY", "CNY"): (6800, 4800, 800, 4000, 0),
                       ("TOTAL", "CNY"): (9800, 4800, 800, 4000, 0)}

    r1 = topics["R1"]
    await r1.do(cmd.RetryRewardRelease(key="conclusion"), r1.manager, at("2026-10-08"))
    await projector.catch_up()
    assert table(await reports.rewards("HQ/SX"))[("TOTAL", "CNY")] == (9800, 4800, 800, 0, 4000)
    await r1.do(cmd.RecordRewardOutcome(key="conclusion", released=True, reference="PAY-2"), SYSTEM,
                at("2026-10-08", 11))
    await projector.catch_up()

    report = await reports.rewards("HQ/SX")
    assert [(r["org"], r["name"]) for r in report["rows"]] == [("HQ/SX/DT", "大同市分公司"), ("HQ/SX/TY", "太原市分公司")]
    assert table(report) == {("HQ/SX/DT", "CNY"): (3000, 0, 0, 0, 0), ("HQ/SX/TY", "CNY"): (6800, 4800, 4800, 0, 0),
                             ("TOTAL", "CNY"): (9800, 4800, 4800, 0, 0)}
    by_unit = table(await reports.rewards("HQ/SX", group_by="unit"))
    assert by_unit == {("HQ/SX/DT/B1", "CNY"): (3000, 0, 0, 0, 0), ("HQ/SX/TY/B1", "CNY"): (5800, 4800, 4800, 0, 0),
                       ("HQ/SX/TY/B2", "CNY"): (1000, 0, 0, 0, 0), ("TOTAL", "CNY"): (9800, 4800, 4800, 0, 0)}
    assert table(await reports.rewards("HQ"))[("TOTAL", "CNY")] == (18800, 4800, 4800, 0, 0)

    # A period counts each amount when its own event happened (Asia/Shanghai).
    periods = {p: table(await reports.rewards("HQ/SX", p)).get(("TOTAL", "CNY"), (0, 0, 0, 0, 0))
               for p in ("2025", "2026", "2026Q1", "2026Q2", "2026-05", "2026-09", "2026-10", "2027")}
    assert periods == {
        "2025": (1000, 0, 0, 0, 0),
        "2026": (8800, 4800, 4800, 0, 0),
        "2026Q1": (8000, 0, 0, 0, 0),  # R1 and R2 claimed
        "2026Q2": (800, 800, 800, 0, 0),  # the milestone reward: granted and released in May
        "2026-05": (800, 800, 800, 0, 0),
        "2026-09": (0, 4000, 0, 0, 0),  # granted in September, released in October
        "2026-10": (0, 0, 4000, 0, 0),
        "2027": (0, 0, 0, 0, 0),
    }
    empty = await reports.rewards("HQ/SX", "2027")
    assert (empty["rows"], empty["totals"]) == ([], [])  # nothing in the period: no rows, no totals
    own = table(await reports.rewards("HQ/SX/TY/B1"))
    assert own == {("HQ/SX/TY/B1", "CNY"): (5800, 4800, 4800, 0, 0), ("TOTAL", "CNY"): (5800, 4800, 4800, 0, 0)}
    assert (await reports.rewards("HQ/SX/TY/B1"))["rows"][0]["name"] == "(本级)"


def test_periods_are_years_quarters_or_months_in_the_time_zone():
    assert period_bounds("2026Q3", "Asia/Shanghai") == (datetime(2026, 7, 1, tzinfo=TZ),
                                                         datetime(2026, 10, 1, tzinfo=TZ))
    assert period_bounds("2026-12", "Asia/Shanghai") == (datetime(2026, 12, 1, tzinfo=TZ),
                                                         datetime(2027, 1, 1, tzinfo=TZ))
    assert period_bounds("2026", "Asia/Shanghai") == (datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))
    for bad in ("2026Q5", "2026-13", "26", "2026-9", "2026Q3x"):
        with pytest.raises(ValueError):
            period_bounds(bad, "Asia/Shanghai")


# --- over HTTP -----------------------------------------------------------------------------------------------


async def test_board_overdue_and_rewards_over_http(stack: Stack, database_url: str):
    read_engine = create_read_engine(database_url)
    try:
        await OrgDirectory(read_engine).import_orgs({"path": p, "name": n, "kind": k} for p, n, k in ORG_TREE)
    finally:
        await read_engine.dispose()
    store = EventStore(stack.pool)
    await seed_quarter(store)
    await seed_overdue(store)
    await stack.wait_until_projected()
    province = bearer("manager", "HQ/SX")

    board = await stack.as_(province, "GET", f"/v1/reports/board?quarter={Q3}")  # org: the caller's
    assert board.status_code == 200, board.text
    body = board.json()
    assert (body["org"], body["level"], body["units"], body["red"], body["blue"]) == ("HQ/SX", "branch", 6, 1, 1)
    # O4's missed Q3 checkpoint (seed_overdue) takes DT/B2 from 50 to 25: it is last now
    assert [(r["org"], r["average_score"], r["color"], r["label"]) for r in body["rows"]][::5] == [
        ("HQ/SX/TY/B2", 90.0, "red", "红榜"), ("HQ/SX/DT/B2", 25.0, "blue", "蓝榜")]
    cities = (await stack.as_(province, "GET", f"/v1/reports/board?quarter={Q3}&level=city")).json()
    assert [(r["org"], r["average_score"], r["missed"]) for r in cities["rows"]] == [
        ("HQ/SX/TY", 70.0, 0), ("HQ/SX/DT", 42.0, 2)]  # DT: 100, 0, 50, 60, 0 (O4)

    overdue = await stack.as_(bearer("auditor", "HQ"), "GET", "/v1/reports/overdue?org=HQ/SX")
    assert overdue.status_code == 200, overdue.text
    items = overdue.json()["items"]
    assert [(i["topic_id"], i["level"], i["escalated_to"]) for i in items] == [("O1", 2, "HQ/SX"), ("O2", 0, None)]
    today = datetime.now(TZ).date()
    assert items[0]["days_overdue"] == (today - date(2026, 5, 31)).days
    assert [u["org"] for u in overdue.json()["reminders"]] == ["HQ/SX/DT/B2"]

    rewards = await stack.as_(province, "GET", "/v1/rewards?period=2026&group_by=unit")
    assert rewards.status_code == 200, rewards.text
    assert rewards.json()["from"] == "2026-01-01T00:00:00+08:00"
    promised = {r["org"]: r["promised"] for r in rewards.json()["rows"]}  # 5000 promised by every seeded topic
    assert promised == {"HQ/SX/TY": 5000, "HQ/SX/TY/B1": 10000, "HQ/SX/TY/B1/G1": 5000, "HQ/SX/TY/B2": 5000,
                        "HQ/SX/TY/B3": 5000, "HQ/SX/DT/B1": 15000, "HQ/SX/DT/B2": 10000, "HQ/SX/DT/B3": 15000}
    assert rewards.json()["totals"] == [{"unit": "CNY", "promised": 70000, "granted": 0, "released": 0, "failed": 0,
                                         "pending": 0}]

    forbidden = await stack.as_(province, "GET", "/v1/reports/board?org=HQ/HB")
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "org.out_of_scope")
    for path in ("/v1/reports/overdue?org=HQ/HB", "/v1/rewards?org=HQ"):
        assert (await stack.as_(province, "GET", path)).status_code == 403
    for path in ("/v1/reports/board?org=HQ//SX", "/v1/reports/board?quarter=2026Q5",
                 "/v1/reports/board?org=HQ/SX/TY&level=province", "/v1/reports/board?level=group",
                 "/v1/reports/overdue?org=HQ/S%20X", "/v1/rewards?period=2026-13", "/v1/rewards?group_by=category"):
        answer = await stack.as_(province, "GET", path)
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "request.invalid"), path
    assert (await stack.http.get("/v1/rewards")).status_code == 401
