"""破题: the claiming branch files a plan with milestones, reports them complete and reports progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Commands, TopicId
from api.schemas.bodies import (
    MilestoneCompletion,
    MilestoneDecision,
    PlanCreate,
    PlanDecision,
    ProgressReportCreate,
    command_from,
)
from api.schemas.errors import COMMAND_ERRORS
from api.schemas.topics import CommandResult
from domain.commands import DecideMilestone, SubmitMilestoneCompletion

router = APIRouter(prefix="/v1/topics/{topic_id}", tags=["破题 breaking"], responses=COMMAND_ERRORS)

MilestoneKey = Annotated[str, Path(description="the milestone's key from the plan")]


@router.post("/plan", response_model=CommandResult)
async def submit_plan(topic_id: TopicId, body: PlanCreate, commands: Commands) -> CommandResult:
    """Claiming branch: file the plan and its milestones (→ plan_submitted)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/plan/decision", response_model=CommandResult)
async def decide_plan(topic_id: TopicId, body: PlanDecision, commands: Commands) -> CommandResult:
    """Manager: approve the plan (→ in_progress) or return it (→ claimed)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))


@router.post("/milestones/{key}/completion", response_model=CommandResult)
async def submit_milestone(topic_id: TopicId, key: MilestoneKey, body: MilestoneCompletion,
                           commands: Commands) -> CommandResult:
    """Claiming branch: report a milestone complete, with evidence."""
    command = command_from(SubmitMilestoneCompletion, body, key=key)
    return CommandResult.from_outcome(await commands.execute(topic_id, command))


@router.post("/milestones/{key}/decision", response_model=CommandResult)
async def decide_milestone(topic_id: TopicId, key: MilestoneKey, body: MilestoneDecision,
                           commands: Commands) -> CommandResult:
    """Manager: approve a reported milestone, or return it to pending."""
    command = command_from(DecideMilestone, body, key=key)
    return CommandResult.from_outcome(await commands.execute(topic_id, command))


@router.post("/reports", response_model=CommandResult)
async def report_progress(topic_id: TopicId, body: ProgressReportCreate, commands: Commands) -> CommandResult:
    """Claiming branch: a progress report (percent done and a summary)."""
    return CommandResult.from_outcome(await commands.execute(topic_id, body))
