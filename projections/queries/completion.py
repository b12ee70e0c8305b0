"""Completion report (GET /v1/reports/completion): claimed / concluded / withdrawn as of any instant.

A topic counts for the unit that claimed it (its confirmed claim's org) and for every unit above that one.
Coverage: `units_total` counts the org units of kind branch, group or department (`UNIT_KINDS`) registered in a row's
subtree (the org tree as it is now: it keeps no history), `units_claimed` the distinct units holding counted claims.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

GroupBy = Literal["child", "category"]
OWN_LEVEL = "(本级)"
UNIT_KINDS = ("branch", "group", "department")  # the units coverage counts ("218 个党支部")

# `scoped`: confirmed claims by `org`'s subtree at `as_of`; `counted`: per group plus the ROLLUP total (is_total=1).
_COUNTED = """
WITH scoped AS (
    SELECT {group_key} AS grp, claim_org, concluded_at,
           coalesce(withdrawn_at <= :as_of, false) AS withdrawn
    FROM topic_completion
    WHERE claimed_at <= :as_of AND (claim_org = :org OR starts_with(claim_org, :prefix))
), counted AS (
    SELECT grp, GROUPING(grp) AS is_total,
           count(*) FILTER (WHERE NOT withdrawn) AS claimed,
           count(*) FILTER (WHERE NOT withdrawn AND concluded_at <= :as_of) AS concluded,
           count(*) FILTER (WHERE withdrawn) AS withdrawn,
           count(DISTINCT claim_org) FILTER (WHERE NOT withdrawn) AS units_claimed
    FROM scoped GROUP BY ROLLUP (grp)
), units AS (
    SELECT grp, GROUPING(grp) AS is_total, count(*) AS units_total
    FROM (SELECT CASE WHEN path = :org THEN path
                      ELSE :prefix || split_part(substr(path, length(:prefix) + 1), '/', 1) END AS grp
          FROM orgs WHERE kind = ANY(:unit_kinds) AND (path = :org OR starts_with(path, :prefix))) u
    GROUP BY ROLLUP (grp)
)
"""
_COUNTS = "coalesce(c.claimed, 0) AS claimed, coalesce(c.concluded, 0) AS concluded, " \
          "coalesce(c.withdrawn, 0) AS withdrawn, coalesce(c.units_claimed, 0) AS units_claimed"

# Direct children come from the org tree (zero rows included) and from claims by units not (yet) registered.
_BY_CHILD = text(_COUNTED.format(
    group_key="CASE WHEN claim_org = :org THEN claim_org "
              "ELSE :prefix || split_part(substr(claim_org, length(:prefix) + 1), '/', 1) END"
) + f"""
SELECT coalesce(c.grp, o.path) AS grp, coalesce(c.is_total, 0) AS is_total, n.name, {_COUNTS},
       coalesce(u.units_total, 0) AS units_total
FROM counted c
FULL JOIN (SELECT path FROM orgs WHERE parent_path = :org) o ON o.path = c.grp
LEFT JOIN orgs n ON n.path = coalesce(c.grp, o.path, :org)
LEFT JOIN units u ON u.is_total = coalesce(c.is_total, 0) AND (u.is_total = 1 OR u.grp = coalesce(c.grp, o.path))
""")

_BY_CATEGORY = text(_COUNTED.format(group_key="category") + f"""
SELECT c.grp, c.is_total, NULL AS name, {_COUNTS},
       (SELECT units_total FROM units WHERE is_total = 1) AS units_total
FROM counted c
""")


class CompletionReports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def completion_report(self, org: str, as_of: datetime, group_by: GroupBy = "child", *,
                                coverage: bool = False) -> dict[str, Any]:
        """{org, as_of, group_by, rows, total}; each row: org+name or category, claimed, concluded, in_progress,
        withdrawn, completion_rate, units_claimed, and with `coverage` units_total (for a category row: the
        subtree's units). A `(本级)` row appears when `org` itself claimed topics."""
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware (see end_of_day for a calendar date)")
        if group_by not in ("child", "category"):
            raise ValueError(f"group_by must be 'child' or 'category', not {group_by!r}")
        query = _BY_CHILD if group_by == "child" else _BY_CATEGORY
        async with self._engine.connect() as conn:
            result = await conn.execute(query, {"org": org, "prefix": org + "/", "as_of": as_of,
                                                "unit_kinds": list(UNIT_KINDS)})
            records = [dict(r._mapping) for r in result]
        total = next(r for r in records if r["is_total"])
        rows = sorted((r for r in records if not r["is_total"]), key=lambda r: (r["grp"] != org, r["grp"]))
        report = {
            "org": org, "as_of": as_of, "group_by": group_by,
            "rows": [_row(r, group_by, org) for r in rows],
            "total": {**_row(total, "child", org), "org": org},
        }
        if not coverage:
            for row in (*report["rows"], report["total"]):
                del row["units_total"]
        return report


def end_of_day(day: date, timezone: str = "Asia/Shanghai") -> datetime:
    """The last instant of `day` in `timezone`: "as of 2025-09-30" includes everything on that day."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(timezone))
    return next_midnight - timedelta(microseconds=1)


def _row(record: dict[str, Any], group_by: GroupBy, org: str) -> dict[str, Any]:
    claimed, concluded = record["claimed"], record["concluded"]
    if group_by == "category":
        key = {"category": record["grp"]}
    else:
        key = {"org": record["grp"], "name": OWN_LEVEL if record["grp"] == org else record["name"]}
    return {
        **key,
        "claimed": claimed,
        "concluded": concluded,
        "in_progress": claimed - concluded,
        "withdrawn": record["withdrawn"],
        "completion_rate": round(concluded / claimed, 4) if claimed else 0.0,
        "units_claimed": record["units_claimed"],
        "units_total": record["units_total"],
    }
