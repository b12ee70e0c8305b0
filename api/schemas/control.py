"""季度管控会: the control meeting's request and its answer."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from domain.commands import Quarter


class ControlMeetingCreate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    org: str = Field(min_length=1, max_length=200, description="the unit whose subtree the meeting covers")
    quarter: str = Quarter
    report_due: dt.datetime | None = Field(
        default=None, description="when the reports are due (a datetime without offset is read in the configured "
        "time zone); must lie ahead. Default: the quarter's end plus the report window (LINGTI_REPORT_WINDOW)")


class RefusedTopic(BaseModel):
    topic_id: str
    code: str = Field(description="the rule that refused it, e.g. org.out_of_scope (owned above the caller)")
    message: str


class ControlMeetingResult(BaseModel):
    """What the meeting did. `opened` + `already_open` + len(`refused`) = `topics`. A repeated meeting (with or
    without the same Idempotency-Key) opens nothing twice: what is open already is counted in already_open."""

    org: str
    quarter: str
    report_due: dt.datetime = Field(description="the report deadline of the checkpoints this meeting opened")
    topics: int = Field(description="claimed, plan_submitted and in_progress topics owned or claimed in the subtree")
    opened: int = Field(description="checkpoints this meeting opened (CheckpointOpened recorded)")
    already_open: int = Field(description="topics whose checkpoint for the quarter was open already: nothing recorded")
    refused: list[RefusedTopic] = Field(description="topics the rules refused (e.g. owned outside your subtree)")
