"""点题, after the proposal: the leader in charge reviews (分管领导审核), the party committee publishes (党委确定)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Commands, TopicId
from api.schemas.bodies import ProposalDecision, TopicPublication
from api.schemas.errors import COMMAND_ERRORS
from api.schemas.topics import CommandResult

router = APIRouter(prefix="/v1/topics/{topic_id}", tags=["点题 topic setting"], responses=COMMAND_ERRORS)


@router.post("/review", response_model=CommandResult)
async def review_proposal(topic_id: TopicId, body: ProposalDecision, commands: Commands) -> CommandResult:
    """Manager: approve the proposal (→ reviewed) or return it for revision (→ returned)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/publish", response_model=CommandResult)
async def publish_topic(topic_id: TopicId, body: TopicPublication, commands: Commands) -> CommandResult:
    """Committee: confirm the reviewed topic; it opens for claiming (→ open)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))
