"""TopicWorkflow on the real Temporal dev server with the real event store."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from temporalio.api.enums.v1 import EventType

from domain import Actor, DomainError, TopicState, decide, event_from_data, fold
from domain import commands as c
from domain.commands import Context
from tests import factories as f
from tests.fixtures.temporal import topic_worker
from workflows.contracts import TOPIC_ORG, TOPIC_STATE, stream_id, workflow_id


def new_id() -> str:
    return f"T-{uuid.uuid4().hex[:10].upper()}"


async def walk(gateway, topic_id: str, steps) -> list:
    outcomes = []
    for command, actor in steps:
        if isinstance(command, c.ProposeTopic):
            outcomes.append(await gateway.propose(command, actor))
        else:
            outcomes.append(await gateway.execute(topic_id, command, actor))
    return outcomes


async def history_length(client, topic_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id(topic_id)).fetch_history()
    return len(history.events)


async def settled(gateway, topic_id: str) -> TopicState:
    """The topic once its workflow has concluded it after 公示 and paid out its reward (bounded wait)."""
    for _ in range(100):
        state = await gateway.current_state(topic_id)
        if state.status == "concluded" and all(r.status == "released" for r in state.rewards):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"topic {topic_id} did not settle: {state.status}")


async def test_full_lifecycle_records_every_event_once_in_order(worker, gateway, event_store):
    topic_id = new_id()
    outcomes = await walk(gateway, topic_id, f.lifecycle(topic_id))

    assert outcomes[-1].state["status"] == "posting"
    assert [o.version for o in outcomes] == list(range(1, 17))
    state = await settled(gateway, topic_id)  # the 公示 timer concludes it, then the reward is released
    recorded = await event_store.read_stream(stream_id(topic_id))
    assert [r.event_type for r in recorded[16:]] == ["PostingCompleted", "RewardGranted", "RewardReleased"]
    assert [r.stream_version for r in recorded] == list(range(1, 20))
    assert recorded[4].event_type == "ClaimConfirmed"
    assert recorded[0].metadata["actor"]["sub"] == f.proposer.sub
    assert recorded[16].metadata["actor"]["role"] == "system"
    folded = fold(event_from_data(r.event_type, r.data) for r in recorded)
    assert folded == state


async def test_workflow_state_query_and_search_attributes(worker, gateway, temporal_env):
    topic_id = new_id()
    await walk(gateway, topic_id, f.lifecycle(topic_id)[:4])
    state = await gateway.current_state(topic_id)
    assert state is not None and state.status == "claim_pending"
    assert await gateway.current_state("T-NOPE") is None
    desc = await temporal_env.client.get_workflow_handle(workflow_id(topic_id)).describe()
    assert desc.typed_search_attributes.get(TOPIC_STATE) == "claim_pending"
    assert desc.typed_search_attributes.get(TOPIC_ORG) == f.PROVINCE


def probes(topic_id: str) -> list[tuple[c.Command, Actor]]:
    """One attempt at every command type, each by an actor of the right role for it."""
    steps = dict((type(cmd), (cmd, actor)) for cmd, actor in f.lifecycle(topic_id))
    extra = [
        (c.ReviseProposal(**f.propose(topic_id).model_dump(exclude={"topic_id", "org"})), f.proposer),
        (c.WithdrawTopic(reason="不再需要"), f.committee),
        (c.ClaimTopic(org="HQ/SX/TY/B018"), f.other_branch),
    ]
    return list(steps.values()) + extra


@pytest.mark.parametrize("stage", [1, 3, 5, 9, 12])
async def test_every_illegal_command_is_rejected_by_the_validator_without_history(
    worker, gateway, temporal_env, stage
):
    topic_id = new_id()
    await walk(gateway, topic_id, f.lifecycle(topic_id)[:stage])
    state = await gateway.current_state(topic_id)
    rejected = 0
    for command, actor in probes(topic_id):
        ctx = Context(actor=actor, now=dt.datetime.now(dt.timezone.utc))
        try:
            decide(state, command, ctx)
            continue  # legal here: not a probe for this stage
        except DomainError as expected:
            before = await history_length(temporal_env.client, topic_id)
            send = gateway.propose(command, actor) if isinstance(command, c.ProposeTopic) else \
                gateway.execute(topic_id, command, actor)
            with pytest.raises(DomainError) as raised:
                await send
            assert (raised.value.kind, raised.value.code) == (expected.kind, expected.code)
            assert await history_length(temporal_env.client, topic_id) == before
            rejected += 1
    assert rejected >= 8
    assert (await gateway.current_state(topic_id)).version == state.version


async def test_a_retried_update_with_the_same_key_is_answered_once(worker, gateway, event_store):
    topic_id = new_id()
    first = await gateway.propose(f.propose(topic_id), f.proposer, idempotency_key="k-propose")
    again = await gateway.propose(f.propose(topic_id), f.proposer, idempotency_key="k-propose")
    assert again == first
    review = c.ReviewProposal(decision="approve")
    one = await gateway.execute(topic_id, review, f.manager, idempotency_key="k-review")
    two = await gateway.execute(topic_id, review, f.manager, idempotency_key="k-review")
    assert one == two
    assert [r.event_type for r in await event_store.read_stream(stream_id(topic_id))] == [
        "TopicProposed", "ProposalApproved"]


async def test_twenty_concurrent_claims_leave_exactly_one_pending_claim(worker, gateway, event_store):
    topic_id = new_id()
    await walk(gateway, topic_id, f.lifecycle(topic_id)[:3])
    claimants = [Actor(sub=f"b{i}", role="branch", org=f"HQ/SX/TY/B{i:03d}") for i in range(20)]
    results = await asyncio.gather(
        *(gateway.execute(topic_id, c.ClaimTopic(org=a.org), a) for a in claimants), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(e, DomainError) and e.kind == "conflict" for e in losers)
    claims = [r for r in await event_store.read_stream(stream_id(topic_id)) if r.event_type == "TopicClaimed"]
    assert len(claims) == 1


async def test_the_topic_carries_on_after_the_worker_restarts(temporal_env, event_store, task_queue, gateway):
    topic_id = new_id()
    steps = f.lifecycle(topic_id)
    async with topic_worker(temporal_env.client, event_store, task_queue):
        await walk(gateway, topic_id, steps[:5])
    # No worker: a command waits for one instead of failing.
    pending = asyncio.create_task(gateway.execute(topic_id, *steps[5]))
    await asyncio.sleep(0.5)
    assert not pending.done()
    async with topic_worker(temporal_env.client, event_store, task_queue):
        assert (await pending).state["status"] == "plan_submitted"
        await walk(gateway, topic_id, steps[6:])
        assert (await settled(gateway, topic_id)).status == "concluded"
    assert [r.stream_version for r in await event_store.read_stream(stream_id(topic_id))] == list(range(1, 20))


async def test_commands_to_an_unknown_topic_are_not_found(worker, gateway):
    with pytest.raises(DomainError) as raised:
        await gateway.execute("T-MISSING", c.PublishTopic(), f.committee)
    assert raised.value.kind == "not_found"


async def test_a_rejected_proposal_leaves_no_running_workflow_and_can_be_corrected(worker, gateway, temporal_env):
    from temporalio.client import WorkflowExecutionStatus

    topic_id = new_id()
    with pytest.raises(DomainError) as raised:
        await gateway.propose(f.propose(topic_id), f.manager.model_copy(update={"role": "auditor"}), "k")
    assert raised.value.kind == "forbidden"
    handle = temporal_env.client.get_workflow_handle(workflow_id(topic_id))
    for _ in range(50):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.1)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    corrected = await gateway.propose(f.propose(topic_id), f.proposer, "k")
    assert corrected.state["status"] == "proposed"


async def test_a_command_that_records_nothing_answers_at_once_and_leaves_the_topic_usable(worker, gateway, event_store):
    topic_id = new_id()
    await walk(gateway, topic_id, f.lifecycle(topic_id)[:7])  # in progress
    meeting = c.OpenCheckpoint(quarter="2026Q4")
    first = await gateway.execute(topic_id, meeting, f.manager)
    again = await asyncio.wait_for(gateway.execute(topic_id, meeting, f.manager), timeout=10)
    assert (first.events, again.events, again.version) == (["CheckpointOpened"], [], first.version)
    reported = await gateway.execute(topic_id, c.ReportProgress(progress_pct=10, summary="s"), f.branch)
    assert reported.version == first.version + 1
