"""The completion bulletin (通报): the completion report of a subtree at every level below it, as of an instant.

A level is a depth below the org (for HQ: provinces, cities, branches, groups), named after the kind most units
at that depth have (省公司, 市公司, 支部…). Each level partitions the subtree: a row per unit at that depth (its
numbers equal that unit's row in the completion report of its parent), plus a "(本级)" row for each unit above that
depth that itself holds claims or is a unit coverage counts (equal to the "(本级)" row of its own report). So the
rows of every level add up to the total, which is the completion report's total.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orgs import depth_of
from projections.queries.completion import (
    _IN_SUBTREE, OWN_LEVEL, UNIT_KINDS, CompletionReports, _row, subtree_params,
)

KIND_LABELS = {"hq": "集团公司", "province": "省公司", "city": "市公司", "branch": "支部", "group": "党小组",
               "department": "部门"}


def _depth(x: str) -> str:
    return f"(length({x}) - length(replace({x}, '/', '')))"


def _key(x: str) -> str:
    """`x`'s ancestor at level l.d, or `x` itself when it sits above that level."""
    return (f"(CASE WHEN {_depth(x)} >= l.d THEN array_to_string((string_to_array({x}, '/'))[1:l.d + 1], '/') "
            f"ELSE {x} END) COLLATE \"C\"")


# `per_unit`: the counted claims of the subtree, one row per claiming unit; `keyed`: every such unit and every
# registered unit of the subtree once per level, keyed by its ancestor at that level (or itself, above it); one
# aggregate then gives every row of every level. A unit is claiming when it holds a counted (not withdrawn) claim.
_LEVELS = text(f"""
WITH per_unit AS (
    SELECT claim_org,
           count(*) FILTER (WHERE withdrawn_at IS NULL OR withdrawn_at > :as_of) AS claimed,
           count(*) FILTER (WHERE (withdrawn_at IS NULL OR withdrawn_at > :as_of)
                              AND concluded_at <= :as_of) AS concluded,
           count(*) FILTER (WHERE withdrawn_at <= :as_of) AS withdrawn
    FROM topic_completion
    WHERE claimed_at <= :as_of AND {_IN_SUBTREE.format(col="claim_org")}
    GROUP BY claim_org
), subtree AS (
    SELECT path, kind FROM orgs WHERE {_IN_SUBTREE.format(col="path")}
), levels AS (
    SELECT d FROM generate_series(CAST(:depth AS int) + 1, greatest(
        (SELECT max({_depth('path')}) FROM subtree), (SELECT max({_depth('claim_org')}) FROM per_unit))) AS d
), level_kinds AS (
    SELECT {_depth('path')} AS d, mode() WITHIN GROUP (ORDER BY kind) AS level_kind FROM subtree GROUP BY 1
), keyed AS (
    SELECT l.d, {_key('s.claim_org')} AS grp, s.claimed, s.concluded, s.withdrawn,
           CASE WHEN s.claimed > 0 THEN 1 ELSE 0 END AS claiming, 0 AS unit
    FROM levels l CROSS JOIN per_unit s
    UNION ALL
    SELECT l.d, {_key('o.path')}, 0, 0, 0, 0, CASE WHEN o.kind = ANY(:unit_kinds) THEN 1 ELSE 0 END
    FROM levels l CROSS JOIN subtree o
), counted AS (
    SELECT d, grp,
           CAST(sum(claimed) AS bigint) AS claimed, CAST(sum(concluded) AS bigint) AS concluded,
           CAST(sum(withdrawn) AS bigint) AS withdrawn, CAST(sum(claiming) AS bigint) AS units_claimed,
           CAST(sum(unit) AS bigint) AS units_total
    FROM keyed GROUP BY d, grp
)
SELECT c.d AS depth, lk.level_kind, c.grp, n.name, {_depth('c.grp')} < c.d AS own, c.claimed, c.concluded,
       c.withdrawn, c.units_claimed, c.units_total
FROM counted c
LEFT JOIN level_kinds lk ON lk.d = c.d
LEFT JOIN orgs n ON n.path = c.grp
WHERE {_depth('c.grp')} >= c.d OR c.claimed + c.withdrawn > 0 OR c.units_total > 0
ORDER BY c.d, c.grp
""")

_ORG = text("SELECT name, kind FROM orgs WHERE path = :org")


def level_label(kind: str | None, depth: int) -> str:
    return KIND_LABELS.get(kind or "", f"第{depth}级")


class CompletionLevels:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reports = CompletionReports(engine)

    async def bulletin(self, org: str, as_of: datetime) -> dict[str, Any]:
        """{org, name, kind, as_of, levels: [{depth, kind, label, rows, total}], total}; rows as in the completion
        report plus `own` (a "(本级)" row). A unit without units below it gets one level: itself."""
        total = (await self._reports.completion_report(org, as_of, "child", coverage=True))["total"]
        params = {**subtree_params(org), "as_of": as_of, "depth": depth_of(org), "unit_kinds": list(UNIT_KINDS)}
        async with self._engine.connect() as conn:
            me = (await conn.execute(_ORG, {"org": org})).first()
            records = [dict(r._mapping) for r in await conn.execute(_LEVELS, params)]
        name = me.name if me else org
        levels: dict[int, dict[str, Any]] = {}
        for record in records:
            level = levels.setdefault(record["depth"], {
                "depth": record["depth"], "kind": record["level_kind"],
                "label": level_label(record["level_kind"], record["depth"] - depth_of(org)),
                "rows": [], "total": total,
            })
            row = _row(record, "child", "")
            row["own"] = record["own"]
            row["name"] = (record["name"] or record["grp"]) + (OWN_LEVEL if record["own"] else "")
            level["rows"].append(row)
        if not levels:
            own = {**total, "name": name + OWN_LEVEL, "own": True}
            levels[depth_of(org)] = {"depth": depth_of(org), "kind": me.kind if me else None, "label": "本级",
                                     "rows": [own], "total": total}
        return {"org": org, "name": name, "kind": me.kind if me else None, "as_of": as_of,
                "levels": list(levels.values()), "total": total}
