"""Rewards (结题激励, 破题奖励) of a subtree: promised vs granted vs released, per unit, over a period."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import Context, CurrentActor
from api.routes.reports import OrgParam, subtree_root
from api.schemas.control_reports import RewardReport
from api.schemas.errors import error_responses
from projections.queries.rewards import PERIOD_PATTERN, RewardReports

router = APIRouter(prefix="/v1/rewards", tags=["reports"])


@router.get("", response_model=RewardReport, responses=error_responses(401, 403, 422))
async def rewards(
    actor: CurrentActor, context: Context, org: OrgParam = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN,
                                        description="2026, 2026Q3 or 2026-09 (LINGTI_TIMEZONE); default: all")] = None,
    group_by: Literal["child", "unit"] = "child",
) -> RewardReport:
    """Amounts per unit and in total (per currency unit): promised (conclusion rewards at claim confirmation +
    milestone rewards when granted), granted, released (paid out), failed (refused, retry pending) and pending.
    A period counts each amount by the time of its own event (promise at the claim, release at the release)."""
    root = subtree_root(actor, org, "a rewards report")
    report = await RewardReports(context.engine).rewards(root, period, group_by, timezone=context.timezone)
    return RewardReport.model_validate(report)
