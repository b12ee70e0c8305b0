"""Reports of the control loop: the red/blue board (红蓝榜) of a quarter, and what is overdue (分级督办)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api.deps import Context, CurrentActor
from api.routes.reports import OrgParam, invalid, subtree_root
from api.schemas.control_reports import Board, OverdueReport
from api.schemas.errors import error_responses
from domain.calendar import parse_quarter, quarter_of
from projections.queries.board import CheckpointBoard
from projections.queries.overdue import OverdueReports

router = APIRouter(prefix="/v1/reports", tags=["reports"])


def last_quarter(today: dt.date) -> str:
    """The latest quarter that has ended by `today` (its checkpoints are open or done)."""
    year, number = parse_quarter(quarter_of(today))
    return f"{year - 1}Q4" if number == 1 else f"{year}Q{number - 1}"


@router.get("/board", response_model=Board, responses=error_responses(401, 403, 422))
async def board(
    actor: CurrentActor, context: Context, org: OrgParam = None,
    quarter: Annotated[str | None, Query(pattern=r"^[0-9]{4}Q[1-4]$",
                                         description="e.g. 2026Q3; default: the last quarter that has ended")] = None,
    level: Annotated[Literal["branch", "city", "province"],
                     Query(description="the units ranked: the claiming units' ancestors at this level")] = "branch",
) -> Any:
    """红蓝榜: the units at `level` under `org` ranked by their average checkpoint score in `quarter` (only assessed
    and missed checkpoints count, missed = 0; ties: fewer missed, then name). The top LINGTI_BOARD_RED_SHARE
    (default 20%) are red, the bottom LINGTI_BOARD_BLUE_SHARE blue (at least one each when two or more units are
    ranked; never both)."""
    root = subtree_root(actor, org, "a red/blue board")
    chosen = quarter or last_quarter(dt.datetime.now(ZoneInfo(context.timezone)).date())
    try:
        result = await CheckpointBoard(context.engine, context.pool).board(
            root, chosen, level, red_share=context.board_red_share, blue_share=context.board_blue_share)
    except ValueError as error:
        raise invalid("level", str(error)) from None
    # The dict as it is: FastAPI validates it against `Board` and writes the JSON in one pass (a board of every
    # branch has thousands of rows; building the models here first would validate each row twice).
    return result


@router.get("/overdue", response_model=OverdueReport, responses=error_responses(401, 403, 422))
async def overdue(actor: CurrentActor, context: Context, org: OrgParam = None) -> OverdueReport:
    """分级督办: missed milestone and topic due dates not yet resolved, of active topics claimed in `org`'s subtree,
    with their escalation level and unit and the days overdue (today in LINGTI_TIMEZONE); and the reminder
    interviews (约谈提醒: two checkpoints missed in a row) per unit."""
    root = subtree_root(actor, org, "an overdue report")
    today = dt.datetime.now(ZoneInfo(context.timezone)).date()
    return OverdueReport.model_validate(await OverdueReports(context.engine).overdue(root, today))
