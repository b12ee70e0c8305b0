"""Completion report: claimed / concluded / in progress / withdrawn per child unit or category, as of an instant."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class CompletionRow(BaseModel):
    org: str | None = Field(default=None, description="the child unit (group_by=child)")
    name: str | None = Field(default=None, description="the child unit's name; (本级) for the unit itself")
    category: str | None = Field(default=None, description="the category (group_by=category)")
    claimed: int = Field(description="topics whose claim was confirmed by as_of and not withdrawn by then")
    concluded: int = Field(description="of those, concluded by as_of")
    in_progress: int = Field(description="claimed - concluded")
    withdrawn: int = Field(description="claimed topics withdrawn by as_of")
    completion_rate: float = Field(description="concluded / claimed (0 when nothing is claimed)")
    units_claimed: int = Field(default=0, description="distinct units holding a counted claim")
    units_total: int = Field(default=0, description="org units of kind branch, group or department in the row's "
                             "subtree (category rows: in the report's subtree); the org tree as registered now")


class CompletionReport(BaseModel):
    org: str
    as_of: dt.datetime
    group_by: Literal["child", "category"]
    rows: list[CompletionRow]
    total: CompletionRow


class TrendPoint(BaseModel):
    period: str = Field(description="the period: 2025-03 (month) or 2025Q1 (quarter)")
    at: dt.datetime = Field(description="the period's end (end of its last day), the last one clipped to `to`")
    claimed: int
    concluded: int
    in_progress: int
    withdrawn: int
    completion_rate: float
    units_claimed: int
    units_total: int


class CompletionTrend(BaseModel):
    """Cumulative totals of the completion report at each period end: point i equals the report as_of=point.at."""

    org: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    interval: Literal["month", "quarter"]
    timezone: str
    points: list[TrendPoint]

    model_config = {"populate_by_name": True}
