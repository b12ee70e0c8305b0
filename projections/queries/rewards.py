"""Rewards promised vs released (GET /v1/rewards), per unit of a subtree, by the claiming unit that receives them.

- **promised**: the conclusion reward (结题激励) promised at 点题, counted when the claim is confirmed (the topic's
  latest proposal; topics since withdrawn are left out), plus each milestone reward (破题奖励) when it is granted
  (on the milestone's approval).
- **granted**: rewards the workflow granted (`RewardGranted`): milestone rewards, and the conclusion reward scaled by
  the final evaluation's tier (so it may be less than promised, or absent when the tier pays 0).
- **released**: granted rewards the payout went through for (`RewardReleased`; the reward ledger holds its row).
- **failed**: rewards whose payout the external system refused and that are not released yet (a manager may retry).
- **pending**: granted rewards whose release is still owed (in flight, or retried after a refusal).

`period` (optional: 2026, 2026Q3 or 2026-09, in the configured time zone) counts each amount by the time of its own
event: a promise at the claim's confirmation (a milestone reward's at its grant), granted and pending at the grant,
released at the release, failed at the refusal. Without a period everything up to now counts.

Amounts are grouped by their unit (CNY unless a reward says otherwise): a row per group and unit; `totals` has one
entry per unit. `group_by=child` (default) adds up each direct child's subtree, with a "(本级)" row for the org's own
rewards, like the completion report; `group_by=unit` gives one row per claiming unit.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.queries.completion import OWN_LEVEL

GroupBy = Literal["child", "unit"]
AMOUNTS = ("promised", "granted", "released", "failed", "pending")
PERIOD_PATTERN = r"^[0-9]{4}(Q[1-4]|-(0[1-9]|1[0-2]))?$"

_IN = "(CAST(:start AS timestamptz) IS NULL OR {at} >= CAST(:start AS timestamptz)) " \
      "AND (CAST(:end AS timestamptz) IS NULL OR {at} < CAST(:end AS timestamptz))"
_CHILD = "CASE WHEN org = :org THEN org ELSE :prefix || split_part(substr(org, length(:prefix) + 1), '/', 1) END"

_REWARDS = """
WITH facts AS (
    SELECT claim_org AS org, reward_unit AS unit, reward_amount AS promised, 0 AS granted, 0 AS released,
           0 AS failed, 0 AS pending
    FROM control_topics
    WHERE claim_org IS NOT NULL AND reward_amount > 0 AND status <> 'withdrawn'
      AND (claim_org = :org OR starts_with(claim_org, :prefix)) AND {claimed}
    UNION ALL
    SELECT org, unit,
           CASE WHEN key LIKE 'milestone:%' AND {granted} THEN amount ELSE 0 END,
           CASE WHEN {granted} THEN amount ELSE 0 END,
           CASE WHEN status = 'released' AND {released} THEN amount ELSE 0 END,
           CASE WHEN status = 'failed' AND {failed} THEN amount ELSE 0 END,
           CASE WHEN status = 'granted' AND {granted} THEN amount ELSE 0 END
    FROM control_rewards
    WHERE org = :org OR starts_with(org, :prefix)
), grouped AS (
    SELECT ({group_key}) COLLATE "C" AS grp, unit, promised, granted, released, failed, pending FROM facts
)
SELECT g.grp, GROUPING(g.grp) AS is_total, g.unit, o.name,
       sum(g.promised) AS promised, sum(g.granted) AS granted, sum(g.released) AS released,
       sum(g.failed) AS failed, sum(g.pending) AS pending
FROM grouped g
LEFT JOIN orgs o ON o.path = g.grp
GROUP BY GROUPING SETS ((g.grp, o.name, g.unit), (g.unit))
HAVING sum(g.promised) + sum(g.granted) + sum(g.released) + sum(g.failed) + sum(g.pending) > 0
ORDER BY is_total, g.grp, g.unit
"""


def _query(group_by: GroupBy):
    return text(_REWARDS.format(
        claimed=_IN.format(at="claimed_at"), granted=_IN.format(at="granted_at"),
        released=_IN.format(at="released_at"), failed=_IN.format(at="failed_at"),
        group_key=_CHILD if group_by == "child" else "org"))


_QUERIES = {"child": _query("child"), "unit": _query("unit")}


def period_bounds(period: str, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of a year (2026), quarter (2026Q3) or month (2026-09) in `timezone`."""
    if not re.match(PERIOD_PATTERN, period):
        raise ValueError(f"period {period[:20]!r} is not a year (2026), a quarter (2026Q3) or a month (2026-09)")
    year = int(period[:4])
    if "Q" in period:
        first_month, months = 3 * int(period[5]) - 2, 3
    elif "-" in period:
        first_month, months = int(period[5:7]), 1
    else:
        first_month, months = 1, 12
    end_index = year * 12 + first_month - 1 + months
    zone = ZoneInfo(timezone)
    start = datetime.combine(date(year, first_month, 1), time(), tzinfo=zone)
    end = datetime.combine(date(end_index // 12, end_index % 12 + 1, 1), time(), tzinfo=zone)
    return start, end


def _amounts(record: dict[str, Any]) -> dict[str, float]:
    return {name: round(float(record[name] or 0), 2) for name in AMOUNTS}


class RewardReports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def rewards(self, org: str, period: str | None = None, group_by: GroupBy = "child", *,
                      timezone: str = "Asia/Shanghai") -> dict[str, Any]:
        """{org, period, from, to, group_by, rows, totals}; rows: {org, name, unit, promised, granted, released,
        failed, pending}; totals: one per unit. Raises ValueError for a malformed period."""
        start, end = period_bounds(period, timezone) if period else (None, None)
        params = {"org": org, "prefix": org + "/", "start": start, "end": end}
        async with self._engine.connect() as conn:
            records = [dict(r._mapping) for r in await conn.execute(_QUERIES[group_by], params)]
        rows, totals = [], []
        for record in records:
            if record["is_total"]:
                totals.append({"unit": record["unit"], **_amounts(record)})
            else:
                name = OWN_LEVEL if record["grp"] == org and group_by == "child" else record["name"]
                rows.append({"org": record["grp"], "name": name, "unit": record["unit"], **_amounts(record)})
        rows.sort(key=lambda r: (r["org"] != org, r["org"], r["unit"]))
        return {"org": org, "period": period, "from": start, "to": end, "group_by": group_by, "rows": rows,
                "totals": totals}
