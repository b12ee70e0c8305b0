"""Value objects a topic carries: indicators with targets, rewards, milestones, results."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Field(default="", max_length=5000)


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Indicator(Value):
    """A measurable target, e.g. on-time rate ≥ 98.5%."""

    name: str = Field(min_length=1, max_length=100)
    target: float
    unit: str = Field(default="", max_length=20)
    direction: Literal["at_least", "at_most"] = "at_least"


class Reward(Value):
    """The incentive promised on conclusion (结题激励)."""

    amount: float = Field(ge=0)
    unit: str = Field(default="CNY", min_length=1, max_length=20)


class MilestoneSpec(Value):
    key: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    title: str = Field(min_length=1, max_length=200)
    due_date: dt.date
    reward: Reward | None = None  # 破题奖励, released when the milestone is approved


class IndicatorResult(Value):
    indicator: str = Field(min_length=1, max_length=100)
    actual: float


def indicator_met(indicator: Indicator, actual: float) -> bool:
    if indicator.direction == "at_least":
        return actual >= indicator.target
    return actual <= indicator.target
