"""结题: the branch submits results, the manager approves or rejects them; the committee may withdraw a topic."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Commands, TopicId
from api.schemas.bodies import ConclusionCreate, ConclusionDecision, WithdrawalCreate
from api.schemas.errors import COMMAND_ERRORS
from api.schemas.topics import CommandResult

router = APIRouter(prefix="/v1/topics/{topic_id}", tags=["结题 concluding"], responses=COMMAND_ERRORS)


@router.post("/conclusion", response_model=CommandResult)
async def submit_conclusion(topic_id: TopicId, body: ConclusionCreate, commands: Commands) -> CommandResult:
    """Claiming branch: results against every indicator, once all milestones are approved (→ concluding)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/conclusion/decision", response_model=CommandResult)
async def decide_conclusion(topic_id: TopicId, body: ConclusionDecision, commands: Commands) -> CommandResult:
    """Manager: approve the conclusion (→ concluded) or reject it (→ in_progress)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/withdrawal", response_model=CommandResult)
async def withdraw_topic(topic_id: TopicId, body: WithdrawalCreate, commands: Commands) -> CommandResult:
    """Committee: withdraw the topic, with a reason, from any active state (→ withdrawn)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))
