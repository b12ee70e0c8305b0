"""Reports over the read models: the completion rate (结题率) of a subtree, as of any instant."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from api.deps import Context, CurrentActor, Reports, require_within
from api.schemas.errors import error_responses
from api.schemas.reports import CompletionReport
from projections.queries import end_of_day

router = APIRouter(prefix="/v1/reports", tags=["reports"])


def parse_as_of(text: str | None, timezone: str) -> dt.datetime:
    """A date means the end of that day in `timezone`; a datetime without offset is read in `timezone` too."""
    zone = ZoneInfo(timezone)
    if not text:
        return dt.datetime.now(zone)
    try:
        if len(text) == 10:
            return end_of_day(dt.date.fromisoformat(text), timezone)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RequestValidationError([{
            "loc": ("query", "as_of"), "type": "as_of_format",
            "msg": f"as_of {text[:40]!r} is neither a date (2025-09-30) nor a datetime (2025-09-30T18:00:00+08:00)",
        }]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


@router.get("/completion", response_model=CompletionReport, responses=error_responses(401, 403, 422))
async def completion_report(
    reports: Reports, actor: CurrentActor, context: Context,
    org: Annotated[str | None, Query(description="the unit whose subtree is counted; defaults to yours")] = None,
    as_of: Annotated[str | None, Query(description="a date (end of that day) or a datetime; default now")] = None,
    group_by: Literal["child", "category"] = "child",
) -> CompletionReport:
    """Claimed, concluded, in progress and withdrawn topics of a subtree, per child unit or per category;
    completion_rate = concluded / claimed (the seeds' "结题 95 个，占领题总数的 33%")."""
    root = org or actor.org
    require_within(actor, root, "a completion report")
    report = await reports.completion_report(root, parse_as_of(as_of, context.timezone), group_by)
    return CompletionReport.model_validate(report)
