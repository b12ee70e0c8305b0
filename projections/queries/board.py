"""The red/blue board (红蓝榜, GET /v1/reports/board): the units at one level of a subtree ranked by their average
checkpoint score in a quarter.

- **Units.** A level is a depth of the org tree: province 1, city 2, branch 3 (HQ is 0). A checkpoint counts for the
  claiming unit's ancestor at that depth, so a party group's checkpoints count for its branch; checkpoints of topics
  claimed by a unit above the level (a city itself, on the branch board) are not on that board. Only units with at
  least one counted checkpoint are ranked.
- **Score.** Only checkpoints that are assessed or missed count (missed = 0); a reported but not yet scored one, or
  one still open, does not (it shows in `topics`, not in `checkpoints`). A topic withdrawn or concluded later keeps
  the checkpoints it had.
- **Rank.** Average score (rounded to 2 decimals) descending, then fewer missed checkpoints, then the unit's name,
  then its path (byte order); ranks are 1..n without gaps.
- **Colours.** With n ≥ 2 units, the top round(n × red_share) units (at least 1 when the share is above 0) are red
  (红榜), the bottom round(n × blue_share) (likewise at least 1) blue (蓝榜), the rest neutral; blue never takes a
  red unit (blue = min(blue, n − red)). A single unit, or a share of 0, is never coloured. Halves round up.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.queries.completion import _IN_SUBTREE, subtree_params
from projections.queries.statement import Statement

Level = Literal["province", "city", "branch"]
LEVEL_DEPTHS: dict[str, int] = {"province": 1, "city": 2, "branch": 3}
LABELS = {"red": "红榜", "blue": "蓝榜", "neutral": ""}
COUNTED = ("assessed", "missed")

_DEPTH = "(length({col}) - length(replace({col}, '/', '')))"
_COUNTED_SQL = "s.status IN ('assessed', 'missed')"
_UNIT_OF = "array_to_string((string_to_array({col}, '/'))[1:CAST(:depth AS int) + 1], '/') COLLATE \"C\""
# The ranking, the same for both plans below: over `units` (unit, topics, checkpoints, average_score, missed).
_RANKED = """
SELECT row_number() OVER (ORDER BY u.average_score DESC, u.missed, coalesce(o.name, u.unit) COLLATE "C", u.unit)
           AS rank,
       u.unit AS org, o.name, CAST(u.topics AS bigint) AS topics, CAST(u.checkpoints AS bigint) AS checkpoints,
       CAST(u.average_score AS double precision) AS average_score, CAST(u.missed AS bigint) AS missed
FROM units u
LEFT JOIN orgs o ON o.path = u.unit
WHERE u.checkpoints > 0
ORDER BY rank
"""
# A unit's checkpoints of the quarter (`s`): a topic has one row per quarter (the primary key), so its topics are
# its rows. The average is sum / count of the counted scores (what avg() computes), from partial sums where a unit's
# checkpoints come in parts; rounded to 2 decimals through numeric, the order of the float additions cannot show.
_PARTS = f"""count(*) AS topics,
           count(*) FILTER (WHERE {_COUNTED_SQL}) AS checkpoints,
           sum(s.score) FILTER (WHERE {_COUNTED_SQL}) AS score_sum,
           count(s.score) FILTER (WHERE {_COUNTED_SQL}) AS scores,
           count(*) FILTER (WHERE s.status = 'missed') AS missed"""
_AVERAGE = "round(CAST(({sum}) / nullif({count}, 0) AS numeric), 2)"

# Provinces or cities (units above the claiming ones, each holding many): the registered units at the level
# (`tree`, down the org tree from `org`), each read as two ranges of the (quarter, claim_org) index
# (`checkpoint_scores_quarter_org_idx` covers status and score, migration 0008: an index-only scan), its own
# checkpoints and those below it, as in completion.py's `_BY_CHILD`; checkpoints of units nobody registered lie in
# the `gaps` between those ranges, and only they are keyed row by row. The LATERALs keep every range scan driven by
# its unit or gap, whatever the parameters (the statement is prepared once and may run on a generic plan).
_BOARD_BY_RANGES = Statement(text(f"""
WITH RECURSIVE tree AS (
    SELECT path, 0 AS below FROM orgs WHERE path = :org
    UNION ALL
    SELECT o.path, t.below + 1 FROM tree t JOIN orgs o ON o.parent_path = t.path WHERE t.below < :below
), registered AS (
    SELECT path AS unit FROM tree WHERE below = :below
), bounds AS (
    SELECT r.lo, r.hi FROM registered u
    CROSS JOIN LATERAL (VALUES (u.unit, u.unit || chr(1)), (u.unit || '/', u.unit || '0')) AS r(lo, hi)
), gaps AS (
    SELECT coalesce(lag(hi) OVER (ORDER BY lo), :org) AS lo, lo AS hi FROM bounds
    UNION ALL
    SELECT coalesce(max(hi), :org), :prefix_end FROM bounds
), units AS (
    SELECT u.unit, own.topics + below.topics AS topics, own.checkpoints + below.checkpoints AS checkpoints,
           {_AVERAGE.format(sum="coalesce(own.score_sum, 0) + coalesce(below.score_sum, 0)",
                            count="own.scores + below.scores")} AS average_score,
           own.missed + below.missed AS missed
    FROM registered u
    CROSS JOIN LATERAL (
        SELECT {_PARTS} FROM checkpoint_scores s WHERE s.quarter = :quarter AND s.claim_org = u.unit
    ) own
    CROSS JOIN LATERAL (
        SELECT {_PARTS} FROM checkpoint_scores s
        WHERE s.quarter = :quarter AND s.claim_org >= u.unit || '/' AND s.claim_org < u.unit || '0'
    ) below
    UNION ALL
    SELECT {_UNIT_OF.format(col="s.claim_org")}, count(*), count(*) FILTER (WHERE {_COUNTED_SQL}),
           round(CAST(avg(s.score) FILTER (WHERE {_COUNTED_SQL}) AS numeric), 2),
           count(*) FILTER (WHERE s.status = 'missed')
    FROM gaps g CROSS JOIN LATERAL (
        SELECT s.claim_org, s.status, s.score FROM checkpoint_scores s
        WHERE s.quarter = :quarter AND s.claim_org >= g.lo AND s.claim_org < g.hi
          AND (s.claim_org = :org OR s.claim_org >= :prefix) AND {_DEPTH.format(col="s.claim_org")} >= :depth
    ) s
    WHERE g.lo < g.hi
    GROUP BY 1
)
""" + _RANKED))

# Branches (the claiming units themselves, or their groups: about as many units as checkpoints, thousands under HQ,
# where a range per unit would cost more than it saves): one aggregate per claiming unit over the subtree's range of
# the index (in path order, no hashing), then those rows summed per unit at the level.
_BOARD_BY_CLAIMING_UNIT = Statement(text(f"""
WITH per_unit AS (
    SELECT s.claim_org, {_PARTS}
    FROM checkpoint_scores s
    WHERE s.quarter = :quarter AND {_IN_SUBTREE.format(col="s.claim_org")}
    GROUP BY s.claim_org
), units AS (
    SELECT CASE WHEN {_DEPTH.format(col="claim_org")} = :depth THEN claim_org COLLATE "C"
                ELSE {_UNIT_OF.format(col="claim_org")} END AS unit,
           sum(topics) AS topics, sum(checkpoints) AS checkpoints,
           {_AVERAGE.format(sum="sum(score_sum)", count="sum(scores)")} AS average_score,
           sum(missed) AS missed
    FROM per_unit WHERE {_DEPTH.format(col="claim_org")} >= :depth
    GROUP BY 1
)
""" + _RANKED))


def _share_count(n: int, share: float) -> int:
    if n < 2 or share <= 0:
        return 0
    return max(1, min(n, math.floor(n * share + 0.5)))


def board_colors(n: int, red_share: float, blue_share: float) -> tuple[int, int]:
    """(red, blue): how many of n ranked units are red and blue (see the module's doc)."""
    red = _share_count(n, red_share)
    blue = min(_share_count(n, blue_share), n - red)
    return red, blue


def color_of(rank: int, n: int, red: int, blue: int) -> str:
    if rank <= red:
        return "red"
    if rank > n - blue:
        return "blue"
    return "neutral"


class CheckpointBoard:
    """`pool`: the API's asyncpg pool, used instead of the engine when given (see statement.py)."""

    def __init__(self, engine: AsyncEngine, pool: asyncpg.Pool | None = None) -> None:
        self._engine = engine
        self._pool = pool

    async def board(self, org: str, quarter: str, level: Level = "branch", *, red_share: float = 0.2,
                    blue_share: float = 0.2) -> dict[str, Any]:
        """{org, quarter, level, depth, red_share, blue_share, units, red, blue, rows}; each row: rank, org, name,
        topics (with a checkpoint this quarter), checkpoints (assessed or missed), average_score, missed, color,
        label. Raises ValueError when the level is above `org`."""
        depth = LEVEL_DEPTHS[level]
        if depth < org.count("/"):
            raise ValueError(f"level {level} lies above {org}: choose a level at or below it")
        query = _BOARD_BY_CLAIMING_UNIT if level == "branch" else _BOARD_BY_RANGES
        params = {**subtree_params(org), "quarter": quarter, "depth": depth, "below": depth - org.count("/")}
        records = await query.rows(self._engine, self._pool, params)
        n = len(records)
        red, blue = board_colors(n, red_share, blue_share)
        # Plain tuples to dicts in one comprehension: a board of every branch has thousands of rows.
        rows = [
            {"rank": rank, "org": unit, "name": name or unit, "topics": topics, "checkpoints": checkpoints,
             "average_score": average_score, "missed": missed, "color": color, "label": LABELS[color]}
            for rank, unit, name, topics, checkpoints, average_score, missed in records
            for color in (color_of(rank, n, red, blue),)
        ]
        return {"org": org, "quarter": quarter, "level": level, "depth": depth, "red_share": red_share,
                "blue_share": blue_share, "units": n, "red": red, "blue": blue, "rows": rows}
