"""Events appended through a local activity (the "local-append" patch): one workflow task per command, and the same
guarantees as the regular activity: every event once, in order, whatever fails in between."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, Worker

from activities.contracts import (
    APPEND_EVENTS, RELEASE_REWARD, STREAM_CONFLICT, AppendEventsInput, AppendEventsOutput, EventToAppend,
)
from activities.events import EventActivities
from activities.rewards import RewardActivities
from domain import event_from_data, fold
from eventstore import NewEvent
from tests import factories as f
from tests.fixtures.temporal import topic_worker
from tests.integration.test_topic_workflow import new_id, settled, walk
from workflows.contracts import stream_id, workflow_id
from workflows.topic import TopicWorkflow

ROOT = Path(__file__).resolve().parents[2]
SETTLED_VERSIONS = list(range(1, 20))  # 16 user steps, 公示 ended, reward granted and released


async def test_each_command_appends_in_its_own_workflow_task_without_an_activity_task(
    worker, gateway, temporal_env, event_store
):
    topic_id = new_id()
    outcomes = await walk(gateway, topic_id, f.lifecycle(topic_id))
    await settled(gateway, topic_id)
    history = await temporal_env.client.get_workflow_handle(workflow_id(topic_id)).fetch_history()
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert scheduled == [RELEASE_REWARD]  # appends never go through the task queue
    local = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
             and e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
    assert len(local) == len(SETTLED_VERSIONS) - 1  # every append but the reward's release, which is its own
    tasks = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events)
    assert tasks <= len(outcomes) + 8  # one per command, plus the timer, the payout and the settling
    assert [r.stream_version for r in await event_store.read_stream(stream_id(topic_id))] == SETTLED_VERSIONS


class FailingOnceAfterAppend(EventActivities):
    """The append commits, then the first attempt fails anyway (a connection lost before the answer)."""

    attempts: list[int] = []

    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendEventsInput) -> AppendEventsOutput:
        result = await super().append_events(request)
        FailingOnceAfterAppend.attempts.append(activity.info().attempt)
        if activity.info().attempt == 1:
            raise RuntimeError("connection lost after the commit")
        return result


async def test_a_local_append_retried_after_its_commit_records_nothing_twice(
    temporal_env, event_store, gateway, task_queue
):
    topic_id = new_id()
    FailingOnceAfterAppend.attempts = []
    async with Worker(temporal_env.client, task_queue=task_queue, workflows=[TopicWorkflow],
                      activities=[FailingOnceAfterAppend(event_store).append_events,
                                  RewardActivities(event_store.pool).release_reward]):
        outcomes = await walk(gateway, topic_id, f.lifecycle(topic_id))
        state = await settled(gateway, topic_id)
    assert [o.version for o in outcomes] == list(range(1, 17))
    assert FailingOnceAfterAppend.attempts.count(2) == len(SETTLED_VERSIONS) - 1  # every append was retried once
    recorded = await event_store.read_stream(stream_id(topic_id))
    assert [r.stream_version for r in recorded] == SETTLED_VERSIONS
    assert fold(event_from_data(r.event_type, r.data) for r in recorded) == state


async def _line(process: subprocess.Popen, timeout: float = 30.0) -> str:
    """The crashing worker's next "polling" or "appended …" line (its log lines are skipped)."""
    while True:
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), timeout)
        assert line, f"the crashing worker exited with {process.poll()}"
        if line.startswith(("polling", "appended")):
            return line.strip()


async def test_a_worker_lost_after_its_append_leaves_the_log_and_the_workflow_as_one(
    temporal_env, event_store, gateway, task_queue, database_url
):
    """The append commits, then the worker dies before its workflow task completes: nothing of the command is in
    the workflow's history. The next worker gets the command again and decides it at a later time (other content
    at the same version): it must find the log ahead, catch up with it and answer from it, not fork it or wedge."""
    client = temporal_env.client
    topic_id = new_id()
    steps = f.lifecycle(topic_id)
    async with topic_worker(client, event_store, task_queue):
        await walk(gateway, topic_id, steps[:3])  # open for claiming
    crashing = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crashing_worker", "--address",
         client.service_client.config.target_host, "--task-queue", task_queue, "--database-url", database_url],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert await _line(crashing) == "polling"
        claim = asyncio.create_task(gateway.execute(topic_id, *steps[3], idempotency_key="claim-1"))
        assert await _line(crashing) == f"appended {stream_id(topic_id)} 4"
    finally:
        crashing.kill()  # by its own pid: the worker is lost with the claim appended, its workflow task open
        crashing.wait()
    first = (await event_store.read_stream(stream_id(topic_id)))[3]
    assert not claim.done()

    async with topic_worker(client, event_store, task_queue):
        answer = await asyncio.wait_for(claim, timeout=60)  # after the lost workflow task times out (10 s)
        assert (answer.version, answer.state["status"], answer.events) == (4, "claim_pending", ["TopicClaimed"])
        assert await gateway.execute(topic_id, *steps[3], idempotency_key="claim-1") == answer
        await walk(gateway, topic_id, steps[4:])
        state = await settled(gateway, topic_id)

    recorded = await event_store.read_stream(stream_id(topic_id))
    assert [r.stream_version for r in recorded] == SETTLED_VERSIONS
    assert recorded[3].event_id == first.event_id and recorded[3].occurred_at == first.occurred_at
    assert fold(event_from_data(r.event_type, r.data) for r in recorded) == state
    history = await client.get_workflow_handle(workflow_id(topic_id)).fetch_history()
    await Replayer(workflows=[TopicWorkflow]).replay_workflow(history)  # catching up is deterministic too


def _batch(workflow: str, at: dt.datetime) -> list[EventToAppend]:
    return [EventToAppend(event_id=str(uuid.uuid4()), event_type="ProposalApproved", data={},
                          metadata={"workflow_id": workflow, "causation_id": "k"}, occurred_at=at)]


async def test_the_append_reports_the_log_ahead_only_for_its_own_workflow(event_store):
    activities = EventActivities(event_store)
    env = ActivityEnvironment()
    stream = f"topic-{new_id()}"
    now = dt.datetime.now(dt.UTC)
    await event_store.append(stream, 0, [NewEvent(event_id=uuid.uuid4(), event_type="TopicProposed", data={"a": 1},
                                                  metadata={"workflow_id": stream, "causation_id": "k0"},
                                                  occurred_at=now)])
    ahead = await env.run(activities.append_events, AppendEventsInput(
        stream_id=stream, expected_version=0, events=_batch(stream, now + dt.timedelta(seconds=1)), report_ahead=True))
    assert (ahead.stream_version, [(r.stream_version, r.event_type, r.causation_id) for r in ahead.recorded]) == (
        1, [(1, "TopicProposed", "k0")])
    for request in (  # another writer's events, or the regular path: a hard conflict, never retried
        AppendEventsInput(stream_id=stream, expected_version=0, events=_batch("someone-else", now), report_ahead=True),
        AppendEventsInput(stream_id=stream, expected_version=0, events=_batch(stream, now)),
    ):
        with pytest.raises(ApplicationError) as raised:
            await env.run(activities.append_events, request)
        assert (raised.value.type, raised.value.non_retryable) == (STREAM_CONFLICT, True)
