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


class CompletionReport(BaseModel):
    org: str
    as_of: dt.datetime
    group_by: Literal["child", "category"]
    rows: list[CompletionRow]
    total: CompletionRow
