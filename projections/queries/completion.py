"""Completion report (GET /v1/reports/completion): claimed / concluded / withdrawn as of any instant.

A topic counts for the unit that claimed it (its confirmed claim's org) and for every unit above that one.
Coverage: `units_total` counts the org units of kind branch, group or department (`UNIT_KINDS`) registered in a row's
subtree (the org tree as it is now: it keeps no history), `units_claimed` the distinct units holding counted claims.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.queries.statement import Statement

GroupBy = Literal["child", "category"]
OWN_LEVEL = "(本级)"
UNIT_KINDS = ("branch", "group", "department")  # the units coverage counts ("218 个党支部"); see orgs_units_idx (0008)

# A subtree as a byte-order range on `COLLATE "C"` paths, which a btree index scans: `org` and everything below it
# lie in [org, org + "0") ("0" follows "/" in ASCII); in that range, a path is `org` or below it iff it is `org` or
# at least org + "/" (this drops siblings such as org + "-2", which sort between org and org + "/"). `starts_with`
# is the same test, but no index serves it.
_IN_SUBTREE = "({col} >= :org AND {col} < :prefix_end AND ({col} = :org OR {col} >= :prefix))"
# The kinds as literals, so the partial index `orgs_units_idx` (migration 0008) serves the coverage counts.
_UNIT_KINDS_SQL = ", ".join(f"'{kind}'" for kind in UNIT_KINDS)

_NOT_WITHDRAWN = "(t.withdrawn_at IS NULL OR t.withdrawn_at > :as_of)"
_COUNTS = f"""count(*) FILTER (WHERE {_NOT_WITHDRAWN}) AS claimed,
               count(*) FILTER (WHERE {_NOT_WITHDRAWN} AND t.concluded_at <= :as_of) AS concluded,
               count(*) FILTER (WHERE t.withdrawn_at <= :as_of) AS withdrawn,
               count(DISTINCT t.claim_org) FILTER (WHERE {_NOT_WITHDRAWN}) AS units_claimed"""

# Per child unit, two index ranges of the claims index (`topic_completion_claims_idx`, migration 0008: the rows come
# from the index alone, in path order): the child's own claims (claim_org = grp) and those below it
# ([grp + "/", grp + "0"): `below`, `below_end`), instead of keying and hashing every claim of the subtree; two
# ranges rather than one filtered range, so no row is tested against anything but the index bounds. The groups:
# - every registered child (listed even with nothing claimed);
# - the org itself (its own claims: the "(本级)" row, listed when it has any; nothing below it: an empty range);
# - children nobody registered (yet) that hold claims: their claims lie outside every registered child's ranges
#   ([c, c + chr(1)) is c alone), in the `gaps` between those ranges; one index probe per gap finds them (usually
#   there are none), and only their rows are keyed.
# units_total per group: the registered units (UNIT_KINDS) in the same two ranges, from the partial index
# `orgs_units_idx`; the total row sums the groups (they partition the subtree).
_BY_CHILD = Statement(text(f"""
WITH children AS (
    SELECT path AS grp FROM orgs WHERE parent_path = :org
), bounds AS (
    SELECT r.lo, r.hi FROM children c
    CROSS JOIN LATERAL (VALUES (c.grp, c.grp || chr(1)), (c.grp || '/', c.grp || '0')) AS r(lo, hi)
), gaps AS (
    SELECT coalesce(lag(hi) OVER (ORDER BY lo), :prefix) AS lo, lo AS hi FROM bounds
    UNION ALL
    SELECT coalesce(max(hi), :prefix), :prefix_end FROM bounds
), groups AS (
    SELECT grp, grp || '/' AS below, grp || '0' AS below_end, true AS listed FROM children
    UNION ALL
    SELECT grp, grp || '/', grp || '0', false FROM (
        SELECT DISTINCT :prefix || split_part(substr(t.claim_org, length(:prefix) + 1), '/', 1) AS grp
        FROM gaps g CROSS JOIN LATERAL (
            SELECT t.claim_org FROM topic_completion t
            WHERE t.claim_org >= g.lo AND t.claim_org < g.hi AND t.claimed_at <= :as_of
        ) t
        WHERE g.lo < g.hi
    ) unregistered
    UNION ALL
    SELECT :org, :prefix, :prefix, false
), counted AS (
    SELECT g.grp, g.listed,
           own.claimed + below.claimed AS claimed, own.concluded + below.concluded AS concluded,
           own.withdrawn + below.withdrawn AS withdrawn, own.units_claimed + below.units_claimed AS units_claimed,
           (SELECT count(*) FROM orgs o WHERE o.kind IN ({_UNIT_KINDS_SQL}) AND o.path = g.grp)
           + (SELECT count(*) FROM orgs o
              WHERE o.kind IN ({_UNIT_KINDS_SQL}) AND o.path >= g.below AND o.path < g.below_end) AS units_total
    FROM groups g
    CROSS JOIN LATERAL (
        SELECT {_COUNTS} FROM topic_completion t WHERE t.claimed_at <= :as_of AND t.claim_org = g.grp
    ) own
    CROSS JOIN LATERAL (
        SELECT {_COUNTS} FROM topic_completion t
        WHERE t.claimed_at <= :as_of AND t.claim_org >= g.below AND t.claim_org < g.below_end
    ) below
)
SELECT grp, 0 AS is_total, (SELECT n.name FROM orgs n WHERE n.path = grp) AS name,
       claimed, concluded, withdrawn, units_claimed, units_total
FROM counted WHERE listed OR claimed + withdrawn > 0
UNION ALL
SELECT NULL, 1, (SELECT n.name FROM orgs n WHERE n.path = :org),
       CAST(sum(claimed) AS bigint), CAST(sum(concluded) AS bigint), CAST(sum(withdrawn) AS bigint),
       CAST(sum(units_claimed) AS bigint), CAST(sum(units_total) AS bigint)
FROM counted
"""))

# Per category, plus the ROLLUP total (is_total=1); units_total of every row: the subtree's units.
_BY_CATEGORY = Statement(text(f"""
WITH counted AS (
    SELECT t.category AS grp, GROUPING(t.category) AS is_total, {_COUNTS}
    FROM topic_completion t
    WHERE t.claimed_at <= :as_of AND {_IN_SUBTREE.format(col="t.claim_org")}
    GROUP BY ROLLUP (t.category)
)
SELECT c.grp, c.is_total, NULL AS name, coalesce(c.claimed, 0) AS claimed, coalesce(c.concluded, 0) AS concluded,
       coalesce(c.withdrawn, 0) AS withdrawn, coalesce(c.units_claimed, 0) AS units_claimed,
       (SELECT count(*) FROM orgs WHERE kind IN ({_UNIT_KINDS_SQL}) AND {_IN_SUBTREE.format(col="path")})
           AS units_total
FROM counted c
"""))


def subtree_params(org: str) -> dict[str, str]:
    """The bind parameters of a subtree filter (`_IN_SUBTREE`): org, prefix (org + "/"), prefix_end (org + "0")."""
    return {"org": org, "prefix": org + "/", "prefix_end": org + "0"}


class CompletionReports:
    """`pool`: the API's asyncpg pool, used instead of the engine when given (see statement.py)."""

    def __init__(self, engine: AsyncEngine, pool: asyncpg.Pool | None = None) -> None:
        self._engine = engine
        self._pool = pool

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
        records = await query.dicts(self._engine, self._pool, {**subtree_params(org), "as_of": as_of})
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
