"""结题: the branch submits results, four parties evaluate them (四方评价), the manager approves or rejects,
the approved conclusion is posted (公示) for objections, and its reward is released; the committee may withdraw."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Commands, TopicId
from api.schemas.bodies import (
    ConclusionCreate, ConclusionDecision, EvaluationCreate, ObjectionCreate, WithdrawalCreate, command_from,
)
from domain import commands as c
from api.schemas.errors import COMMAND_ERRORS
from api.schemas.topics import CommandResult

router = APIRouter(prefix="/v1/topics/{topic_id}", tags=["结题 concluding"], responses=COMMAND_ERRORS)


@router.post("/conclusion", response_model=CommandResult)
async def submit_conclusion(topic_id: TopicId, body: ConclusionCreate, commands: Commands) -> CommandResult:
    """Claiming branch: results against every indicator, once all milestones are approved (→ concluding)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/evaluations", response_model=CommandResult)
async def submit_evaluation(topic_id: TopicId, body: EvaluationCreate, commands: Commands) -> CommandResult:
    """四方评价, while concluding: grassroots (a branch of the owning unit), self (the claiming branch),
    peer (business department) and leader (manager) each score 0–100; a party may revise its score."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/conclusion/decision", response_model=CommandResult)
async def decide_conclusion(topic_id: TopicId, body: ConclusionDecision, commands: Commands) -> CommandResult:
    """Manager: approve once all four evaluations are in (→ posting 公示, then concluded when the posting period
    ends without objection) or reject (→ in_progress). Topics started before 2026-11 conclude on approval."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/objections", response_model=CommandResult)
async def raise_objection(topic_id: TopicId, body: ObjectionCreate, commands: Commands) -> CommandResult:
    """Anyone of the owning unit, during 公示: object (→ back to the manager's decision)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/rewards/{key}/retry", response_model=CommandResult)
async def retry_reward(topic_id: TopicId, key: str, commands: Commands) -> CommandResult:
    """Manager: release a reward (`conclusion` or `milestone:<key>`) again after the payout system refused it;
    the ledger still pays it only once."""
    command = command_from(c.RetryRewardRelease, c.RetryRewardRelease.model_construct(), key=key)
    return CommandResult.from_outcome(await commands.execute(topic_id, command))


@router.post("/withdrawal", response_model=CommandResult)
async def withdraw_topic(topic_id: TopicId, body: WithdrawalCreate, commands: Commands) -> CommandResult:
    """Committee: withdraw the topic, with a reason, from any active state (→ withdrawn)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))
