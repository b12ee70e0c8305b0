"""Request bodies. Most are the domain's own command models (their field constraints give field-level 422s);
where the command carries a value from the path (topic id, claim id, milestone key, quarter), the body is the command
minus that field, derived here so no constraint is written twice.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError, create_model

from domain import commands as c


def body_of(command: type[c.Command], *path_fields: str, name: str) -> type[c.Command]:
    """A body model with every field of `command` except those taken from the path."""
    fields: dict[str, Any] = {
        field: (info.annotation, info) for field, info in command.model_fields.items() if field not in path_fields
    }
    return create_model(name, __base__=c.Command, __doc__=command.__doc__, **fields)


def command_from(command: type[c.Command], body: c.Command, **from_path: Any) -> c.Command:
    """The full command: the validated body plus the path values, which are validated here (→ 422 on failure)."""
    try:
        return command(**dict(body), **from_path)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("path", *e["loc"]) if e["loc"] and e["loc"][0] in from_path else ("body", *e["loc"])}
             for e in error.errors()]
        ) from None


TopicCreate = body_of(c.ProposeTopic, "topic_id", name="TopicCreate")
ClaimDecision = body_of(c.DecideClaim, "claim_id", name="ClaimDecision")
MilestoneCompletion = body_of(c.SubmitMilestoneCompletion, "key", name="MilestoneCompletion")
MilestoneDecision = body_of(c.DecideMilestone, "key", name="MilestoneDecision")
CheckpointReportCreate = body_of(c.FileCheckpointReport, "quarter", name="CheckpointReportCreate")
CheckpointAssessmentCreate = body_of(c.AssessCheckpoint, "quarter", name="CheckpointAssessmentCreate")

# The domain's commands are the bodies as they are:
TopicRevision = c.ReviseProposal
ProposalDecision = c.ReviewProposal
TopicPublication = c.PublishTopic
ClaimCreate = c.ClaimTopic
PlanCreate = c.SubmitPlan
PlanDecision = c.DecidePlan
ProgressReportCreate = c.ReportProgress
ConclusionCreate = c.SubmitConclusion
ConclusionDecision = c.DecideConclusion
WithdrawalCreate = c.WithdrawTopic
EvaluationCreate = c.SubmitEvaluation
ObjectionCreate = c.RaiseObjection
