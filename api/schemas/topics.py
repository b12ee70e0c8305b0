"""Topic responses: the topic as people see it (`TopicPublic`), a command's answer, a page, its event log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from domain import STATE_LABELS, TopicState
from domain.state import (
    Checkpoint, Claim, Conclusion, Deadline, Evaluation, Milestone, Objection, Plan, ProgressReport, RewardEntry,
)
from domain.values import Indicator, Reward
from workflows.contracts import CommandOutcome


class TopicPublic(BaseModel):
    id: str
    title: str
    description: str
    category: str
    org: str
    state: str = Field(description="lifecycle state code, e.g. open, claim_pending, in_progress")
    state_label: str = Field(description="the state in Chinese, e.g. 待认领")
    version: int = Field(description="number of events recorded for the topic")
    proposer: str
    indicators: list[Indicator]
    due_date: dt.date | None
    reward: Reward | None
    claim: Claim | None
    claimed_by: str | None = Field(description="org path of the unit holding the (pending or confirmed) claim")
    plan: Plan | None
    milestones: list[Milestone]
    reports: list[ProgressReport]
    conclusion: Conclusion | None
    review_comment: str
    withdrawal_reason: str
    checkpoints: list[Checkpoint] = Field(default_factory=list, description="季度管控: one per quarter")
    next_checkpoint: str = Field(default="", description="the quarter whose end opens the next checkpoint")
    deadlines: list[Deadline] = Field(default_factory=list, description="missed due dates and their escalation")
    reminder_interviews: int = Field(default=0, description="约谈提醒 required (two missed checkpoints in a row)")
    evaluations: list[Evaluation] = Field(default_factory=list, description="四方评价 scores so far")
    final_score: float | None = Field(default=None, description="weighted four-party score, once approved")
    posting_ends_at: dt.datetime | None = Field(default=None, description="end of 公示 while posting")
    objections: list[Objection] = Field(default_factory=list)
    rewards: list[RewardEntry] = Field(default_factory=list, description="rewards granted and their payout status")
    proposed_at: dt.datetime | None = Field(default=None, description="when 点题 happened (read model only)")
    updated_at: dt.datetime | None = Field(default=None, description="when the last event happened (read model only)")

    @classmethod
    def from_state(cls, state: TopicState, **extra: Any) -> TopicPublic:
        return cls(
            id=state.topic_id, title=state.title, description=state.description, category=state.category,
            org=state.org, state=state.status, state_label=STATE_LABELS[state.status], version=state.version,
            proposer=state.proposer, indicators=list(state.indicators), due_date=state.due_date,
            reward=state.reward, claim=state.claim, claimed_by=state.claim.org if state.claim else None,
            plan=state.plan, milestones=list(state.milestones), reports=list(state.reports),
            conclusion=state.conclusion, review_comment=state.review_comment,
            withdrawal_reason=state.withdrawal_reason, checkpoints=list(state.checkpoints),
            next_checkpoint=state.next_checkpoint, deadlines=list(state.deadlines),
            reminder_interviews=state.reminder_interviews, evaluations=list(state.evaluations),
            final_score=state.final_score, posting_ends_at=state.posting_ends_at, objections=list(state.objections),
            rewards=list(state.rewards), **extra,
        )


class CommandResult(TopicPublic):
    """The topic right after the command, straight from its workflow (strongly consistent)."""

    events: list[str] = Field(description="types of the events this command recorded")

    @classmethod
    def from_outcome(cls, outcome: CommandOutcome) -> CommandResult:
        return cls.from_state(TopicState.model_validate(outcome.state), events=list(outcome.events))


class ClaimResult(CommandResult):
    claim_id: str = Field(description="decide on the claim at POST /v1/topics/{id}/claims/{claim_id}/decision")

    @classmethod
    def from_outcome(cls, outcome: CommandOutcome) -> ClaimResult:
        state = TopicState.model_validate(outcome.state)
        assert state.claim is not None, "an accepted claim always leaves a pending claim"
        return cls.from_state(state, events=list(outcome.events), claim_id=state.claim.claim_id)


class TopicSummary(BaseModel):
    """One row of GET /v1/topics."""

    id: str
    title: str
    category: str
    org: str
    state: str
    state_label: str
    version: int
    claimed_by: str | None
    due_date: dt.date | None
    proposed_at: dt.datetime
    updated_at: dt.datetime


class TopicPage(BaseModel):
    items: list[TopicSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class EventActor(BaseModel):
    sub: str
    role: str
    org: str
    name: str = ""


class TopicEvent(BaseModel):
    version: int
    type: str
    data: dict[str, Any]
    actor: EventActor | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime | None = None
    event_id: str | None = None
    correlation_id: str | None = None
    hash: str | None = Field(default=None, description="SHA-256 of the event (hex), chained through prev_hash")
    prev_hash: str | None = None


class TopicEventLog(BaseModel):
    topic_id: str
    events: list[TopicEvent]
    chain_valid: bool = Field(description="every hash and prev_hash of these events recomputes from the stored rows")
