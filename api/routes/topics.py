"""Topics: 点题 (propose, revise), the list, one topic, and its event log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import Access, Commands, CurrentActor, IdempotencyKey, TopicId, Topics
from api.errors import ApiError
from api.schemas.bodies import TopicCreate, TopicRevision, command_from
from api.schemas.errors import COMMAND_ERRORS, READ_ERRORS, error_responses
from api.schemas.topics import CommandResult, TopicEvent, TopicEventLog, TopicPage, TopicPublic, TopicSummary
from domain.commands import ProposeTopic
from domain.state import Status
from projections.queries import InvalidCursor
from workflows.gateway import new_topic_id

router = APIRouter(prefix="/v1/topics", tags=["topics"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CommandResult, responses=COMMAND_ERRORS)
async def propose_topic(body: TopicCreate, commands: Commands, actor: CurrentActor,
                        idempotency_key: IdempotencyKey = None) -> CommandResult:
    """点题: propose a topic. Its id is derived from your Idempotency-Key, so a retry finds the same topic."""
    command = command_from(ProposeTopic, body, topic_id=new_topic_id(actor, idempotency_key))
    return CommandResult.from_outcome(await commands.propose(command))


@router.put("/{topic_id}", response_model=CommandResult, responses=COMMAND_ERRORS)
async def revise_proposal(topic_id: TopicId, body: TopicRevision, commands: Commands) -> CommandResult:
    """Revise a proposal that review returned (proposer only)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.get("", response_model=TopicPage, responses=error_responses(401, 422))
async def list_topics(
    topics: Topics, actor: CurrentActor,
    state: Annotated[Status | None, Query(description="lifecycle state code")] = None,
    org: Annotated[str | None, Query(description="topics owned within this subtree")] = None,
    category: str | None = None,
    claimed_by: Annotated[str | None, Query(description="topics claimed by a unit within this subtree")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in title or description")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> TopicPage:
    """The topics you may see (your subtree, and published topics of the units above you), newest change first."""
    try:
        rows, next_cursor = await topics.list_topics(
            actor.org, state=state, org=org, category=category, claimed_by=claimed_by, q=q, limit=limit,
            cursor=cursor)
    except InvalidCursor as error:
        raise ApiError(422, "cursor.invalid", str(error)) from None
    return TopicPage(items=[TopicSummary.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{topic_id}", response_model=TopicPublic, responses=READ_ERRORS)
async def get_topic(topic_id: TopicId, access: Access, actor: CurrentActor) -> TopicPublic:
    """The topic's current state, with its claim, plan, milestones, reports and conclusion."""
    return await access.visible_topic(topic_id, actor)


@router.get("/{topic_id}/events", response_model=TopicEventLog, responses=READ_ERRORS)
async def topic_events(topic_id: TopicId, access: Access, topics: Topics, actor: CurrentActor) -> TopicEventLog:
    """The topic's full event log in order, with who did what and the hash chain."""
    await access.visible_topic(topic_id, actor)
    history = await topics.topic_history(topic_id)
    chain_valid = await topics.topic_chain_valid(topic_id, through_version=history[-1]["version"] if history else 0)
    return TopicEventLog(topic_id=topic_id, events=[TopicEvent.model_validate(e) for e in history],
                         chain_valid=chain_valid)
