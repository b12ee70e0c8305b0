"""Events: what happened to a topic, in the past tense. Their names and fields are the log's schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.values import IndicatorResult, Indicator, MilestoneSpec, Reward


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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

    claim_id: str
    org: str
    note: str
    claimant: str


class ClaimConfirmed(Event):
    claim_id: str
    comment: str


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


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        TopicProposed, ProposalRevised, ProposalApproved, ProposalReturned, TopicPublished,
        TopicClaimed, ClaimConfirmed, ClaimRejected, PlanSubmitted, PlanApproved, PlanReturned,
        MilestoneCompletionSubmitted, MilestoneApproved, MilestoneReturned, ProgressReported,
        ConclusionSubmitted, ConclusionApproved, ConclusionRejected, TopicWithdrawn,
    )
}


def event_from_data(event_type: str, data: dict[str, Any]) -> Event:
    return EVENT_TYPES[event_type].model_validate(data)

