"""Long histories continue-as-new without losing state or idempotency; recorded histories keep replaying."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain import commands as c
from tests import factories as f
from tests.fixtures.temporal import start_dev_server, topic_worker
from tests.integration.test_topic_workflow import settled, walk
from workflows.contracts import stream_id, workflow_id
from workflows.gateway import TopicGateway
from workflows.topic import TopicWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"


@pytest.fixture(scope="module")
async def eager_continue_as_new_env():
    """A dev server that suggests continue-as-new after a few dozen history events."""
    env = await start_dev_server("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40")
    yield env
    await env.shutdown()


async def test_continue_as_new_carries_state_and_answered_keys(eager_continue_as_new_env, event_store, task_queue):
    client = eager_continue_as_new_env.client
    gateway = TopicGateway(client, task_queue, policy=f.INSTANT_POSTING)
    topic_id = f"T-{uuid.uuid4().hex[:10].upper()}"
    steps = f.lifecycle(topic_id)
    async with topic_worker(client, event_store, task_queue):
        first = await gateway.propose(steps[0][0], steps[0][1], idempotency_key="first")
        first_run = (await client.get_workflow_handle(workflow_id(topic_id)).describe()).run_id
        await walk(gateway, topic_id, steps[1:9])
        for i in range(12):
            await gateway.execute(topic_id, c.ReportProgress(progress_pct=i, summary=f"第{i}周"), f.branch)
        described = await client.get_workflow_handle(workflow_id(topic_id)).describe()
        assert described.run_id != first_run, "the workflow should have continued as new"
        assert await gateway.propose(steps[0][0], steps[0][1], idempotency_key="first") == first
        await walk(gateway, topic_id, steps[9:])
        done = await settled(gateway, topic_id)
    assert done.status == "concluded"
    assert len(done.reports) == 13
    versions = [r.stream_version for r in await event_store.read_stream(stream_id(topic_id))]
    assert versions == list(range(1, 32))  # 16 user steps, 12 reports, 公示 ended, reward granted and released


async def test_a_fresh_history_replays_deterministically(worker, gateway, temporal_env):
    topic_id = f"T-{uuid.uuid4().hex[:10].upper()}"
    await walk(gateway, topic_id, f.lifecycle(topic_id))
    history = await temporal_env.client.get_workflow_handle(workflow_id(topic_id)).fetch_history()
    await Replayer(workflows=[TopicWorkflow]).replay_workflow(history)
    if os.environ.get("LINGTI_RECORD_HISTORY"):  # to add a recording: LINGTI_RECORD_HISTORY=name pytest -k fresh
        (HISTORIES / f"{os.environ['LINGTI_RECORD_HISTORY']}.json").write_text(history.to_json())


@pytest.mark.parametrize("recording", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_histories_still_replay(recording):
    """Histories recorded from earlier versions of TopicWorkflow: changes must go through workflow.patched."""
    history = WorkflowHistory.from_json(recording.stem, json.loads(recording.read_text()))
    await Replayer(workflows=[TopicWorkflow]).replay_workflow(history)
