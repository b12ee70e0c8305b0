"""Events: what happened to a topic, in the past tense. Their names and fields are the log's schema."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from domain.values import IndicatorResult, Indicator, MilestoneSpec, Reward


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The shape `to_data` writes; the log's `schema_version`. Older versions are upcast when read
    # (eventstore/upcasting.py; the steps are registered in projections/upcasts.py).
    SCHEMA_VERSION: ClassVar[int] = 1

    @property
    def event_type(self) -> str:
        return type(self).__name__

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# 点题 ---------------------------------------------------------------------------------------


class TopicProposed(Event):
    topic_id: str
    title: str
    description: str
    category: str
    org: str
    indicators: tuple[Indicator, ...]
    due_date: dt.date
    reward: Reward | None
    proposer: str


class ProposalRevised(Event):
    title: str
    description: str
    category: str
    indicators: tuple[Indicator, ...]
    due_date: dt.date
    reward: Reward | None


class ProposalApproved(Event):
    comment: str


class ProposalReturned(Event):
    comment: str


class TopicPublished(Event):
    comment: str


# 领题 ---------------------------------------------------------------------------------------


class TopicClaimed(Event):
    """A branch asked to take the topic on; the business department still has to confirm."""

    SCHEMA_VERSION: ClassVar[int] = 2  # v2 added claimant_name (v1 rows: see topic_claimed_v1_to_v2)

    claim_id: str
    org: str
    note: str
    claimant: str
    claimant_name: str = ""  # the claimant's display name (Actor.name)


class ClaimConfirmed(Event):
    claim_id: str
    comment: str
    first_quarter: str = ""  # the quarter whose end opens the first checkpoint (absent in early events)


class ClaimRejected(Event):
    claim_id: str
    comment: str


# 破题 ---------------------------------------------------------------------------------------


class PlanSubmitted(Event):
    summary: str
    milestones: tuple[MilestoneSpec, ...]


class PlanApproved(Event):
    comment: str


class PlanReturned(Event):
    comment: str


class MilestoneCompletionSubmitted(Event):
    key: str
    evidence: str


class MilestoneApproved(Event):
    key: str
    comment: str


class MilestoneReturned(Event):
    key: str
    comment: str


class ProgressReported(Event):
    progress_pct: int
    summary: str


# 结题 ---------------------------------------------------------------------------------------


class ConclusionSubmitted(Event):
    summary: str
    results: tuple[IndicatorResult, ...]


class ConclusionApproved(Event):
    comment: str


class ConclusionRejected(Event):
    comment: str


class TopicWithdrawn(Event):
    reason: str
    previous_state: str


# 季度管控 and 分级督办 ----------------------------------------------------------------------------


class CheckpointOpened(Event):
    quarter: str
    report_due: dt.datetime
    convened_by: str  # "schedule" (quarter end) or the sub of the manager who convened a control meeting


class CheckpointReported(Event):
    quarter: str
    progress_pct: int
    summary: str
    indicators: tuple[IndicatorResult, ...]


class CheckpointAssessed(Event):
    quarter: str
    score: float
    rating: str
    comment: str


class CheckpointMissed(Event):
    """No report by the deadline: the checkpoint scores 0."""

    quarter: str


class ReminderInterviewRequired(Event):
    """约谈提醒: two checkpoints missed in a row."""

    quarters: tuple[str, ...]
    org: str


class DeadlineMissed(Event):
    kind: str  # "milestone" or "topic"
    key: str
    due_date: dt.date
    missed_at: dt.datetime


class Escalated(Event):
    """分级督办: an overdue item goes one organisation level up."""

    kind: str
    key: str
    level: int
    to_org: str


# 结题: four-party evaluation (四方评价), public posting (公示), rewards ------------------------------


class EvaluationSubmitted(Event):
    party: str
    score: float
    comment: str
    by: str


class ConclusionEndorsed(Event):
    """The leader in charge approved the evaluated conclusion: it is posted publicly (公示) until posting_ends_at."""

    comment: str
    final_score: float
    posting_ends_at: dt.datetime


class ObjectionRaised(Event):
    reason: str
    by: str
    org: str


class PostingCompleted(Event):
    """No objection during the posting period: the topic is concluded (结题)."""

    final_score: float
    reward_share: float


class RewardGranted(Event):
    key: str
    reason: str
    amount: float
    unit: str
    org: str


class RewardReleased(Event):
    key: str
    reference: str


class RewardReleaseFailed(Event):
    key: str
    error: str


class RewardRetryRequested(Event):
    key: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        TopicProposed, ProposalRevised, ProposalApproved, ProposalReturned, TopicPublished,
        TopicClaimed, ClaimConfirmed, ClaimRejected, PlanSubmitted, PlanApproved, PlanReturned,
        MilestoneCompletionSubmitted, MilestoneApproved, MilestoneReturned, ProgressReported,
        ConclusionSubmitted, ConclusionApproved, ConclusionRejected, TopicWithdrawn,
        CheckpointOpened, CheckpointReported, CheckpointAssessed, CheckpointMissed, ReminderInterviewRequired,
        DeadlineMissed, Escalated, EvaluationSubmitted, ConclusionEndorsed, ObjectionRaised, PostingCompleted,
        RewardGranted, RewardReleased, RewardReleaseFailed, RewardRetryRequested,
    )
}


def topic_claimed_v1_to_v2(data: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """TopicClaimed v1 had no `claimant_name`: take the name of the actor who recorded it (the claimant)."""
    actor = metadata.get("actor") or {}
    if not data.get("claimant_name"):
        same = isinstance(actor, dict) and actor.get("sub") == data.get("claimant")
        data["claimant_name"] = (actor.get("name") or "") if same else ""
    return data


def event_from_data(event_type: str, data: dict[str, Any]) -> Event:
    return EVENT_TYPES[event_type].model_validate(data)

