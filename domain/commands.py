"""Commands: what a user asks of a topic, in the imperative. Actor and time travel beside them in a Context."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from domain.actors import Actor
from domain.policy import DEFAULT_POLICY, ControlPolicy
from domain.values import IndicatorResult, Indicator, MilestoneSpec, Reward, Text


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_payload(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **self.model_dump(mode="json")}


CURRENT_RULES = 2


class Context(BaseModel):
    """Who asks, and when (the workflow clock), in the configured time zone."""

    model_config = ConfigDict(frozen=True)

    actor: Actor
    now: dt.datetime
    timezone: str = "Asia/Shanghai"
    policy: ControlPolicy = Field(default_factory=lambda: DEFAULT_POLICY)  # shared, never deep-copied
    # The ruleset a topic was started under; it keeps those rules for life, so running workflows replay.
    # 1: approving a conclusion concludes at once. 2 (2026-11): 四方评价 first, then 公示 before 结题.
    rules: int = CURRENT_RULES

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(ZoneInfo(self.timezone)).date()


# 点题 ---------------------------------------------------------------------------------------


class ProposalContent(Command):
    title: str = Field(min_length=1, max_length=200)
    description: str = Text
    category: str = Field(min_length=1, max_length=50)
    indicators: tuple[Indicator, ...] = Field(min_length=1, max_length=20)
    due_date: dt.date
    reward: Reward | None = None


class ProposeTopic(ProposalContent):
    topic_id: str = Field(min_length=1, max_length=64)
    org: str = Field(min_length=1, max_length=200)


class ReviseProposal(ProposalContent):
    pass


class ReviewProposal(Command):
    decision: Literal["approve", "return"]
    comment: str = Text


class PublishTopic(Command):
    comment: str = Text


# 领题 ---------------------------------------------------------------------------------------


class ClaimTopic(Command):
    org: str = Field(min_length=1, max_length=200)
    note: str = Text


class DecideClaim(Command):
    claim_id: str = Field(min_length=1, max_length=40)
    decision: Literal["confirm", "reject"]
    comment: str = Text


# 破题 ---------------------------------------------------------------------------------------


class SubmitPlan(Command):
    summary: str = Field(min_length=1, max_length=5000)
    milestones: tuple[MilestoneSpec, ...] = Field(min_length=1, max_length=50)


class DecidePlan(Command):
    decision: Literal["approve", "return"]
    comment: str = Text


class SubmitMilestoneCompletion(Command):
    key: str = Field(min_length=1, max_length=40)
    evidence: str = Field(min_length=1, max_length=5000)


class DecideMilestone(Command):
    key: str = Field(min_length=1, max_length=40)
    decision: Literal["approve", "return"]
    comment: str = Text


class ReportProgress(Command):
    progress_pct: int = Field(ge=0, le=100)
    summary: str = Field(min_length=1, max_length=5000)


# 结题 ---------------------------------------------------------------------------------------


class SubmitConclusion(Command):
    summary: str = Field(min_length=1, max_length=5000)
    results: tuple[IndicatorResult, ...] = Field(min_length=1, max_length=20)


class DecideConclusion(Command):
    decision: Literal["approve", "reject"]
    comment: str = Text


class WithdrawTopic(Command):
    reason: str = Field(min_length=1, max_length=5000)


# 季度管控 and 分级督办 ----------------------------------------------------------------------------

Quarter = Field(pattern=r"^[0-9]{4}Q[1-4]$")


class OpenCheckpoint(Command):
    """Opens a quarter's checkpoint: by the schedule at quarter end, or now by a control meeting (季度管控会)."""

    quarter: str = Quarter
    report_due: dt.datetime | None = None


class FileCheckpointReport(Command):
    quarter: str = Quarter
    progress_pct: int = Field(ge=0, le=100)
    summary: str = Field(min_length=1, max_length=5000)
    indicators: tuple[IndicatorResult, ...] = Field(default=(), max_length=20)


class AssessCheckpoint(Command):
    quarter: str = Quarter
    score: float = Field(ge=0, le=100)
    rating: Literal["on_track", "at_risk", "off_track"]
    comment: str = Text


class MarkCheckpointMissed(Command):
    quarter: str = Quarter


class MarkDeadlineMissed(Command):
    kind: Literal["milestone", "topic"]
    key: str


class Escalate(Command):
    kind: Literal["milestone", "topic"]
    key: str


# 结题: four-party evaluation (四方评价), public posting (公示), rewards ------------------------------


class SubmitEvaluation(Command):
    party: Literal["grassroots", "self", "peer", "leader"]
    score: float = Field(ge=0, le=100)
    comment: str = Text


class RaiseObjection(Command):
    reason: str = Field(min_length=1, max_length=5000)


class CompletePosting(Command):
    """The posting period ran out without objection: the conclusion stands."""


class RecordRewardOutcome(Command):
    key: str
    released: bool
    reference: str = ""
    error: str = ""


class RetryRewardRelease(Command):
    key: str = Field(min_length=1, max_length=60)


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.__name__: cls
    for cls in (
        ProposeTopic, ReviseProposal, ReviewProposal, PublishTopic, ClaimTopic, DecideClaim,
        SubmitPlan, DecidePlan, SubmitMilestoneCompletion, DecideMilestone, ReportProgress,
        SubmitConclusion, DecideConclusion, WithdrawTopic, OpenCheckpoint, FileCheckpointReport,
        AssessCheckpoint, MarkCheckpointMissed, MarkDeadlineMissed, Escalate, SubmitEvaluation, RaiseObjection,
        CompletePosting, RecordRewardOutcome, RetryRewardRelease,
    )
}


def command_from_payload(payload: dict[str, Any]) -> Command:
    """Inverse of `Command.to_payload`; raises pydantic.ValidationError on bad content."""
    fields = dict(payload)
    cls = COMMAND_TYPES[fields.pop("type")]
    return cls.model_validate(fields)
