"""The control loop's reports: the red/blue board (红蓝榜), what is overdue (分级督办), rewards promised vs released."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class BoardRow(BaseModel):
    rank: int = Field(description="1 = best average score; ties go to fewer missed checkpoints, then the name")
    org: str = Field(description="the unit at the board's level")
    name: str = Field(description="its registered name (the path when it is not registered)")
    topics: int = Field(description="topics claimed in the unit's subtree with a checkpoint this quarter")
    checkpoints: int = Field(description="of their checkpoints, those that count: assessed or missed")
    average_score: float = Field(description="mean score of the counted checkpoints (missed = 0), 2 decimals")
    missed: int = Field(description="checkpoints missed (no report by the deadline)")
    color: Literal["red", "blue", "neutral"]
    label: Literal["红榜", "蓝榜", ""]


class Board(BaseModel):
    org: str
    quarter: str
    level: Literal["province", "city", "branch"]
    depth: int = Field(description="the level's depth in the org tree (HQ 0, province 1, city 2, branch 3)")
    red_share: float
    blue_share: float
    units: int = Field(description="units ranked")
    red: int = Field(description="units marked red (top)")
    blue: int = Field(description="units marked blue (bottom)")
    rows: list[BoardRow]


class OverdueItem(BaseModel):
    topic_id: str
    title: str
    claimed_by: str
    claimed_by_name: str | None
    kind: Literal["milestone", "topic"]
    key: str = Field(description="the milestone's key, or `topic` for the topic's own due date")
    item_title: str = Field(description="the milestone's title, or the topic's")
    due_date: dt.date
    missed_at: dt.datetime
    level: int = Field(description="escalations so far (0: not escalated yet)")
    escalated_to: str | None = Field(description="the unit it was last escalated to")
    escalated_to_name: str | None
    escalated_at: dt.datetime | None
    days_overdue: int = Field(description="whole days since the due date, as of today in LINGTI_TIMEZONE")


class ReminderItem(BaseModel):
    topic_id: str
    title: str
    quarters: list[str] = Field(description="the two quarters missed in a row")
    required_at: dt.datetime


class ReminderUnit(BaseModel):
    org: str
    name: str
    interviews: int = Field(description="reminder interviews (约谈提醒) required of the unit")
    topics: int
    latest_at: dt.datetime
    items: list[ReminderItem]


class OverdueReport(BaseModel):
    org: str
    today: dt.date
    total: int
    by_level: dict[str, int] = Field(description="items per escalation level")
    items: list[OverdueItem]
    reminders: list[ReminderUnit]


class RewardAmounts(BaseModel):
    promised: float = Field(description="conclusion rewards promised by claimed topics + milestone rewards granted")
    granted: float = Field(description="rewards granted (the conclusion reward scaled by its tier)")
    released: float = Field(description="granted rewards paid out")
    failed: float = Field(description="rewards whose payout was refused and not released since")
    pending: float = Field(description="granted rewards whose release is still owed")


class RewardRow(RewardAmounts):
    org: str
    name: str | None = Field(description="the unit's name; (本级) for the org itself (group_by=child)")
    unit: str = Field(description="the amounts' unit, e.g. CNY")


class RewardTotal(RewardAmounts):
    unit: str


class RewardReport(BaseModel):
    org: str
    period: str | None
    from_: dt.datetime | None = Field(alias="from", description="start of the period (inclusive)")
    to: dt.datetime | None = Field(description="end of the period (exclusive)")
    group_by: Literal["child", "unit"]
    rows: list[RewardRow]
    totals: list[RewardTotal]

    model_config = {"populate_by_name": True}
