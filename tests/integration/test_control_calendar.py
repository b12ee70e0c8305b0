"""The control calendar on durable timers: the real dev server with per-workflow time skipping (TESTING.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from domain import commands as c
from domain.calendar import quarter_end
from tests import factories as f
from tests.fixtures.temporal import TEMPORAL_CLI, topic_worker
from workflows.contracts import SEARCH_ATTRIBUTES, stream_id, workflow_id
from workflows.gateway import TopicGateway

TZ = "Asia/Shanghai"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
async def skipping_env():
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False), dev_server_existing_path=str(TEMPORAL_CLI),
        search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"])
    yield env
    await env.shutdown()


def just_after(actual: dt.datetime, expected: dt.datetime) -> bool:
    """A timer's event is recorded when its workflow task runs: at the instant or within a minute after it."""
    return dt.timedelta(0) <= actual - expected < dt.timedelta(minutes=1)


class Topic:
    """One topic whose workflow clock the test moves."""

    def __init__(self, env, gateway: TopicGateway, store) -> None:
        self.env, self.gateway, self.store = env, gateway, store
        self.id = f"T-{uuid.uuid4().hex[:10].upper()}"
        self.handle = env.client.get_workflow_handle(workflow_id(self.id))

    async def now(self) -> dt.datetime:
        return await self.env.get_current_time(self.handle)

    async def travel_to(self, instant: dt.datetime) -> None:
        await self.env.fast_forward(self.handle, instant - await self.now())

    async def events(self, event_type: str, count: int) -> list:
        """The topic's events of one type, once there are `count` of them (bounded wait)."""
        for _ in range(100):
            found = [r for r in await self.store.read_stream(stream_id(self.id)) if r.event_type == event_type]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"{event_type}: expected {count}, found {len(found)}")

    async def send(self, command, actor):
        return await self.gateway.execute(self.id, command, actor)


async def claimed_in_february(topic: Topic, milestone_due: dt.date | None = None) -> int:
    """Proposed today; claimed, planned and approved on 10 February of next year. Returns that year."""
    await topic.gateway.propose(
        f.propose(topic.id).model_copy(update={"due_date": dt.date(dt.date.today().year + 3, 12, 31)}), f.proposer)
    for command, actor in f.lifecycle(topic.id)[1:3]:
        await topic.send(command, actor)
    year = (await topic.now()).astimezone(SHANGHAI).year + 1
    await topic.travel_to(dt.datetime(year, 2, 10, 10, tzinfo=SHANGHAI))
    await topic.send(c.ClaimTopic(org=f.BRANCH), f.branch)
    await topic.send(c.DecideClaim(claim_id="C1", decision="confirm"), f.business)
    due = milestone_due or dt.date(year, 11, 30)
    await topic.send(c.SubmitPlan(summary="PDCA", milestones=[{"key": "m1", "title": "摸底", "due_date": due}]),
                     f.branch)
    await topic.send(c.DecidePlan(decision="approve"), f.manager)
    return year


@pytest.fixture
async def topic(skipping_env, event_store, task_queue):
    async with topic_worker(skipping_env.client, event_store, task_queue):
        yield Topic(skipping_env, TopicGateway(skipping_env.client, task_queue), event_store)


async def test_a_year_of_quarterly_checkpoints_on_shanghai_quarter_ends(topic):
    year = await claimed_in_february(topic)
    quarters = [f"{year}Q1", f"{year}Q2", f"{year}Q3", f"{year}Q4"]

    await topic.travel_to(quarter_end(quarters[0], TZ) + dt.timedelta(hours=2))
    opened = await topic.events("CheckpointOpened", 1)
    await topic.send(c.FileCheckpointReport(quarter=quarters[0], progress_pct=35, summary="完成摸底"), f.branch)
    await topic.send(c.AssessCheckpoint(quarter=quarters[0], score=86, rating="on_track"), f.manager)

    await topic.travel_to(quarter_end(quarters[1], TZ) + dt.timedelta(days=16))
    missed = await topic.events("CheckpointMissed", 1)
    await topic.travel_to(quarter_end(quarters[3], TZ) + dt.timedelta(hours=2))
    opened = await topic.events("CheckpointOpened", 4)

    assert [e.data["quarter"] for e in opened] == quarters
    for event, quarter in zip(opened, quarters):  # at (or a moment after) 00:00 Shanghai after the quarter's last day
        assert just_after(event.occurred_at, quarter_end(quarter, TZ))
    assert missed[0].data["quarter"] == quarters[1]
    assert just_after(missed[0].occurred_at, quarter_end(quarters[1], TZ) + dt.timedelta(days=15))
    state = await topic.gateway.current_state(topic.id)
    assert [(cp.quarter, cp.status, cp.score) for cp in state.checkpoints[:2]] == [
        (quarters[0], "assessed", 86), (quarters[1], "missed", 0)]


async def test_a_missed_milestone_escalates_twice_one_level_each_week(topic):
    year = await claimed_in_february(topic, milestone_due=dt.date(dt.date.today().year + 1, 3, 15))
    due_end = dt.datetime(year, 3, 16, tzinfo=SHANGHAI)
    await topic.travel_to(due_end + dt.timedelta(days=15))
    escalations = await topic.events("Escalated", 2)
    missed = await topic.events("DeadlineMissed", 1)
    assert just_after(missed[0].occurred_at, due_end)
    assert [(e.data["level"], e.data["to_org"]) for e in escalations] == [(1, "HQ/SX/TY"), (2, "HQ/SX")]
    for event, days in zip(escalations, (7, 14)):
        assert just_after(event.occurred_at, due_end + dt.timedelta(days=days))


async def test_a_posted_conclusion_stands_after_five_days_unless_someone_objects(topic):
    await claimed_in_february(topic)
    await topic.send(c.SubmitMilestoneCompletion(key="m1", evidence="摸底报告"), f.branch)
    await topic.send(c.DecideMilestone(key="m1", decision="approve"), f.manager)
    await topic.send(f.lifecycle(topic.id)[10][0], f.branch)  # SubmitConclusion
    for command, actor in f.evaluations(scores={"grassroots": 70, "self": 80, "peer": 70, "leader": 80}):
        await topic.send(command, actor)  # final score 75.0: the 80% tier
    posted = await topic.send(c.DecideConclusion(decision="approve"), f.manager)
    assert posted.state["status"] == "posting"
    objected = await topic.send(c.RaiseObjection(reason="数据口径存疑"), f.other_branch)
    assert objected.state["status"] == "concluding"

    reposted = await topic.send(c.DecideConclusion(decision="approve", comment="已核实"), f.manager)
    posting_ends = dt.datetime.fromisoformat(reposted.state["posting_ends_at"])
    assert posting_ends - await topic.now() <= dt.timedelta(days=5)
    await topic.travel_to(posting_ends - dt.timedelta(hours=1))
    assert (await topic.gateway.current_state(topic.id)).status == "posting"  # not a moment early
    await topic.travel_to(posting_ends + dt.timedelta(hours=1))
    completed = await topic.events("PostingCompleted", 1)
    released = await topic.events("RewardReleased", 1)
    assert just_after(completed[0].occurred_at, posting_ends)
    granted = await topic.events("RewardGranted", 1)
    assert (granted[0].data["amount"], granted[0].data["org"]) == (4000.0, f.BRANCH)
    assert completed[0].data == {"final_score": 75.0, "reward_share": 0.8}
    assert released[0].data["key"] == "conclusion"
