"""A topic's current state, as folded from its events. Immutable: `evolve` returns a new one."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.values import IndicatorResult, Indicator, Reward

Status = Literal[
    "none", "proposed", "returned", "reviewed", "open", "claim_pending", "claimed",
    "plan_submitted", "in_progress", "concluding", "posting", "concluded", "withdrawn",
]

STATE_LABELS: dict[str, str] = {
    "none": "未创建",
    "proposed": "待审核",  # 点题: waiting for the leader in charge
    "returned": "退回修改",
    "reviewed": "待党委确定",
    "open": "待认领",  # published by the committee
    "claim_pending": "认领待确认",  # 双向沟通确认领题
    "claimed": "已认领",
    "plan_submitted": "方案待审批",
    "in_progress": "破题中",
    "concluding": "结题审核中",
    "posting": "结题公示中",  # 公示: open for objections before the conclusion stands
    "concluded": "已结题",
    "withdrawn": "已撤销",
}

TERMINAL: frozenset[str] = frozenset({"concluded", "withdrawn"})
ACTIVE: frozenset[str] = frozenset(STATE_LABELS) - TERMINAL - {"none"}
PUBLISHED: frozenset[str] = frozenset(
    {"open", "claim_pending", "claimed", "plan_submitted", "in_progress", "concluding", "posting", "concluded"}
)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Claim(Model):
    claim_id: str
    org: str
    note: str
    claimant: str
    status: Literal["pending", "confirmed"]


class Milestone(Model):
    key: str
    title: str
    due_date: dt.date
    status: Literal["pending", "submitted", "approved"] = "pending"
    evidence: str = ""
    comment: str = ""
    reward: Reward | None = None


class Plan(Model):
    summary: str
    status: Literal["submitted", "approved", "returned"]
    comment: str = ""


class ProgressReport(Model):
    progress_pct: int
    summary: str


class Conclusion(Model):
    summary: str
    results: tuple[IndicatorResult, ...]
    status: Literal["submitted", "approved", "rejected"]
    comment: str = ""


class Checkpoint(Model):
    """One quarter's control checkpoint (季度管控)."""

    quarter: str
    report_due: dt.datetime
    status: Literal["open", "reported", "assessed", "missed"] = "open"
    progress_pct: int | None = None
    summary: str = ""
    indicators: tuple[IndicatorResult, ...] = ()
    score: float | None = None
    rating: str = ""
    comment: str = ""


class Evaluation(Model):
    """One party's score in the four-party evaluation (四方评价)."""

    party: Literal["grassroots", "self", "peer", "leader"]
    score: float
    comment: str
    by: str


class Objection(Model):
    reason: str
    by: str
    org: str


class RewardEntry(Model):
    """A reward owed to the claiming unit, and whether the payout went through (exactly once, by `key`)."""

    key: str  # "conclusion" or "milestone:<key>"
    reason: str
    amount: float
    unit: str
    org: str
    status: Literal["granted", "released", "failed"] = "granted"
    reference: str = ""
    error: str = ""


class Deadline(Model):
    """A due date that passed without completion, and how far up it has been escalated (分级督办)."""

    kind: Literal["milestone", "topic"]
    key: str
    due_date: dt.date
    missed_at: dt.datetime
    level: int = 0
    escalated_to: str = ""
    resolved: bool = False


# Claimed topics being worked on: quarterly checkpoints open and due dates run.
CONTROLLED: frozenset[str] = frozenset({"claimed", "plan_submitted", "in_progress"})


class TopicState(Model):
    version: int = 0
    status: Status = "none"
    topic_id: str = ""
    title: str = ""
    description: str = ""
    category: str = ""
    org: str = ""
    proposer: str = ""
    indicators: tuple[Indicator, ...] = ()
    due_date: dt.date | None = None
    reward: Reward | None = None
    review_comment: str = ""
    claims_filed: int = 0
    claim: Claim | None = None
    plan: Plan | None = None
    milestones: tuple[Milestone, ...] = ()
    reports: tuple[ProgressReport, ...] = ()
    conclusion: Conclusion | None = None
    withdrawal_reason: str = ""
    next_checkpoint: str = ""  # the quarter whose end opens the next checkpoint
    checkpoints: tuple[Checkpoint, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    reminder_interviews: int = 0
    evaluations: tuple[Evaluation, ...] = ()
    final_score: float | None = None
    posting_ends_at: dt.datetime | None = None
    objections: tuple[Objection, ...] = ()
    rewards: tuple[RewardEntry, ...] = ()

    @property
    def label(self) -> str:
        return STATE_LABELS[self.status]

    def milestone(self, key: str) -> Milestone | None:
        return next((m for m in self.milestones if m.key == key), None)

    def checkpoint(self, quarter: str) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.quarter == quarter), None)

    def reward_entry(self, key: str) -> RewardEntry | None:
        return next((r for r in self.rewards if r.key == key), None)

    def deadline(self, kind: str, key: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.kind == kind and d.key == key), None)


initial_state = TopicState()
