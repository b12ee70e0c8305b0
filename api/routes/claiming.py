"""领题: a branch claims an open topic; the business department confirms or rejects the claim (双向确认)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Commands, TopicId
from api.schemas.bodies import ClaimCreate, ClaimDecision, command_from
from api.schemas.errors import COMMAND_ERRORS
from api.schemas.topics import ClaimResult, CommandResult
from domain.commands import DecideClaim

router = APIRouter(prefix="/v1/topics/{topic_id}/claims", tags=["领题 claiming"], responses=COMMAND_ERRORS)

ClaimId = Annotated[str, Path(description="the claim_id returned when the claim was filed, e.g. C1")]


@router.post("", response_model=ClaimResult)
async def claim_topic(topic_id: TopicId, body: ClaimCreate, commands: Commands) -> ClaimResult:
    """Branch: claim the open topic for your unit (→ claim_pending); returns the claim_id to decide on."""
    return ClaimResult.from_outcome(await commands.execute(topic_id, body, org=body.org))


@router.post("/{claim_id}/decision", response_model=CommandResult)
async def decide_claim(topic_id: TopicId, claim_id: ClaimId, body: ClaimDecision, commands: Commands) -> CommandResult:
    """Business department: confirm the claim (→ claimed) or reject it (→ open again)."""
    command = command_from(DecideClaim, body, claim_id=claim_id)
    return CommandResult.from_outcome(await commands.execute(topic_id, command))
