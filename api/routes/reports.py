"""Reports over the read models: the completion rate (结题率) of a subtree as of any instant, its trend over months
or quarters, and the bulletin (通报) as an Excel workbook or CSV."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from api.context import ApiContext
from api.deps import Context, CurrentActor, Reports, require_within
from api.exports import bulletin_csv, bulletin_filename, bulletin_xlsx, content_disposition
from api.schemas.errors import error_responses
from api.schemas.reports import CompletionReport, CompletionTrend
from domain import Actor
from domain.orgs import is_valid_path
from projections.queries import end_of_day
from projections.queries.levels import CompletionLevels
from projections.queries.trend import CompletionTrend as TrendQuery

router = APIRouter(prefix="/v1/reports", tags=["reports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OrgParam = Annotated[str | None, Query(description="the unit whose subtree is counted; defaults to yours")]
AsOfParam = Annotated[str | None, Query(description="a date (end of that day) or a datetime; default now")]


def invalid(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "type": kind, "msg": message}])


def parse_instant(text: str, timezone: str, field: str, *, end: bool = True) -> dt.datetime:
    """A date means the end of that day in `timezone` (its start when `end` is False); a datetime without offset
    is read in `timezone` too."""
    zone = ZoneInfo(timezone)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return end_of_day(day, timezone) if end else dt.datetime.combine(day, dt.time(), tzinfo=zone)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"{field} {text[:40]!r} is neither a date (2025-09-30) nor a datetime "
                      "(2025-09-30T18:00:00+08:00)", f"{field}_format") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def subtree_root(actor: Actor, org: str | None, what: str) -> str:
    """The unit a report is about (default: the caller's), a well-formed path within the caller's subtree."""
    root = org or actor.org
    if not is_valid_path(root):
        raise invalid("org", f"org {root[:60]!r} is not a path like HQ/SX/TY/B017")
    require_within(actor, root, what)
    return root


def parse_as_of(text: str | None, timezone: str) -> dt.datetime:
    """A date means the end of that day in `timezone`; a datetime without offset is read in `timezone` too."""
    return parse_instant(text, timezone, "as_of") if text else dt.datetime.now(ZoneInfo(timezone))


@router.get("/completion", response_model=CompletionReport, responses=error_responses(401, 403, 422))
async def completion_report(
    reports: Reports, actor: CurrentActor, context: Context, org: OrgParam = None, as_of: AsOfParam = None,
    group_by: Literal["child", "category"] = "child",
) -> Any:
    """Claimed, concluded, in progress and withdrawn topics of a subtree, per child unit or per category;
    completion_rate = concluded / claimed (the seeds' "结题 95 个，占领题总数的 33%"); coverage: units_total
    (branches, groups, departments registered in the subtree) and units_claimed (distinct claiming units)."""
    root = subtree_root(actor, org, "a completion report")
    # On the asyncpg pool (one round trip, see projections/queries/statement.py); the dict as it is: FastAPI
    # validates it against `CompletionReport` and writes the JSON in one pass.
    return await reports.completion_report(root, parse_as_of(as_of, context.timezone), group_by, coverage=True)


@router.get("/completion/trend", response_model=CompletionTrend, responses=error_responses(401, 403, 422))
async def completion_trend(
    actor: CurrentActor, context: Context, org: OrgParam = None,
    since: Annotated[dt.date | None, Query(alias="from", description="first day; default: 11 months "
                                           "before the month of `to`, so 12 monthly points")] = None,
    to: Annotated[dt.date | None, Query(description="last day (its end is the last point); default today")] = None,
    interval: Literal["month", "quarter"] = "month",
) -> Any:
    """Cumulative claimed, concluded, withdrawn and completion_rate of a subtree at the end of each month or
    quarter from `from` to `to` (the last point clipped to the end of `to`); each point equals the completion
    report's total as_of that instant. One SQL statement however many points."""
    root = subtree_root(actor, org, "a completion trend")
    until = to or dt.datetime.now(ZoneInfo(context.timezone)).date()
    first = since or dt.date(until.year - (until.month <= 11), (until.month - 12) % 12 + 1, 1)
    try:
        trend = await TrendQuery(context.engine).trend(root, first, until, interval, context.timezone)
    except ValueError as error:
        raise invalid("from", str(error)) from None
    return CompletionTrend.model_validate(trend)


async def _bulletin(actor: Actor, context: ApiContext, org: str | None, as_of: str | None) -> dict[str, Any]:
    root = subtree_root(actor, org, "a completion bulletin")
    return await CompletionLevels(context.engine).bulletin(root, parse_as_of(as_of, context.timezone))


@router.get("/completion.xlsx", response_class=Response, responses={
    200: {"content": {XLSX: {}}, "description": "the bulletin workbook"}, **error_responses(401, 403, 422)})
async def completion_xlsx(actor: CurrentActor, context: Context, org: OrgParam = None,
                          as_of: AsOfParam = None) -> Response:
    """The bulletin (通报) as Excel: one sheet per level below the org (省公司, 市公司, 支部…), Chinese headers,
    a 合计 row, rates as percentages; every number equals the completion report's."""
    bulletin = await _bulletin(actor, context, org, as_of)
    names = bulletin_filename(bulletin, context.timezone, "xlsx")
    workbook = await run_in_threadpool(bulletin_xlsx, bulletin, context.timezone)  # CPU-bound: off the event loop
    return Response(workbook, media_type=XLSX,
                    headers={"Content-Disposition": content_disposition(*names)})


@router.get("/completion.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "the bulletin as one table"}, **error_responses(401, 403, 422)})
async def completion_csv(actor: CurrentActor, context: Context, org: OrgParam = None,
                         as_of: AsOfParam = None) -> Response:
    """The bulletin as one CSV table (UTF-8 with BOM): a 层级 column, then the workbook's columns; each level's
    rows end with its 合计 row; completion_rate as the JSON report has it (a fraction)."""
    bulletin = await _bulletin(actor, context, org, as_of)
    names = bulletin_filename(bulletin, context.timezone, "csv")
    return Response(bulletin_csv(bulletin).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": content_disposition(*names)})
