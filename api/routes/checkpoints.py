"""季度管控: the claiming branch files a quarter's report on an open checkpoint; a manager scores it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Commands, TopicId
from api.schemas.bodies import CheckpointAssessmentCreate, CheckpointReportCreate, command_from
from api.schemas.errors import COMMAND_ERRORS
from api.schemas.topics import CommandResult
from domain.commands import AssessCheckpoint, FileCheckpointReport

router = APIRouter(prefix="/v1/topics/{topic_id}/checkpoints", tags=["季度管控 control"], responses=COMMAND_ERRORS)

# Validated by the command itself (→ 422 request.invalid at path.quarter), like a milestone key.
QuarterPath = Annotated[str, Path(description="the checkpoint's quarter, e.g. 2026Q3")]


@router.post("/{quarter}/report", response_model=CommandResult)
async def file_checkpoint_report(topic_id: TopicId, quarter: QuarterPath, body: CheckpointReportCreate,
                                 commands: Commands) -> CommandResult:
    """Claiming branch: the quarterly report on an open checkpoint, before its report_due (→ reported);
    progress in percent, a summary and, optionally, the indicators' actual values so far."""
    command = command_from(FileCheckpointReport, body, quarter=quarter)
    return CommandResult.from_outcome(await commands.execute(topic_id, command))


@router.post("/{quarter}/assessment", response_model=CommandResult)
async def assess_checkpoint(topic_id: TopicId, quarter: QuarterPath, body: CheckpointAssessmentCreate,
                            commands: Commands) -> CommandResult:
    """Manager: score a reported checkpoint 0–100 with a rating on_track / at_risk / off_track (→ assessed);
    a later assessment revises the score."""
    command = command_from(AssessCheckpoint, body, quarter=quarter)
    return CommandResult.from_outcome(await commands.execute(topic_id, command))
