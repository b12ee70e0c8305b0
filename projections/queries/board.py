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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

Level = Literal["province", "city", "branch"]
LEVEL_DEPTHS: dict[str, int] = {"province": 1, "city": 2, "branch": 3}
LABELS = {"red": "红榜", "blue": "蓝榜", "neutral": ""}
COUNTED = ("assessed", "missed")

_DEPTH = "(length(claim_org) - length(replace(claim_org, '/', '')))"

# One statement: checkpoints of the quarter in the subtree, keyed by their unit at the level; one aggregate per
# unit; the ranking as a window over the units that have counted checkpoints.
_BOARD = text(f"""
WITH keyed AS (
    SELECT array_to_string((string_to_array(claim_org, '/'))[1:CAST(:depth AS int) + 1], '/') COLLATE "C" AS unit,
           topic_id, status, score
    FROM checkpoint_scores
    WHERE quarter = :quarter AND (claim_org = :org OR starts_with(claim_org, :prefix)) AND {_DEPTH} >= :depth
), units AS (
    SELECT unit,
           count(DISTINCT topic_id) AS topics,
           count(*) FILTER (WHERE status IN ('assessed', 'missed')) AS checkpoints,
           round(CAST(avg(score) FILTER (WHERE status IN ('assessed', 'missed')) AS numeric), 2) AS average_score,
           count(*) FILTER (WHERE status = 'missed') AS missed
    FROM keyed GROUP BY unit
)
SELECT row_number() OVER (ORDER BY u.average_score DESC, u.missed, coalesce(o.name, u.unit) COLLATE "C", u.unit)
           AS rank,
       u.unit AS org, o.name, u.topics, u.checkpoints, u.average_score, u.missed
FROM units u
LEFT JOIN orgs o ON o.path = u.unit
WHERE u.checkpoints > 0
ORDER BY rank
""")


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
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def board(self, org: str, quarter: str, level: Level = "branch", *, red_share: float = 0.2,
                    blue_share: float = 0.2) -> dict[str, Any]:
        """{org, quarter, level, depth, red_share, blue_share, units, red, blue, rows}; each row: rank, org, name,
        topics (with a checkpoint this quarter), checkpoints (assessed or missed), average_score, missed, color,
        label. Raises ValueError when the level is above `org`."""
        depth = LEVEL_DEPTHS[level]
        if depth < org.count("/"):
            raise ValueError(f"level {level} lies above {org}: choose a level at or below it")
        async with self._engine.connect() as conn:
            result = await conn.execute(_BOARD, {"org": org, "prefix": org + "/", "quarter": quarter,
                                                 "depth": depth})
            records = [dict(r._mapping) for r in result]
        n = len(records)
        red, blue = board_colors(n, red_share, blue_share)
        rows = []
        for record in records:
            color = color_of(record["rank"], n, red, blue)
            rows.append({
                "rank": record["rank"], "org": record["org"], "name": record["name"] or record["org"],
                "topics": record["topics"], "checkpoints": record["checkpoints"],
                "average_score": float(record["average_score"]), "missed": record["missed"],
                "color": color, "label": LABELS[color],
            })
        return {"org": org, "quarter": quarter, "level": level, "depth": depth, "red_share": red_share,
                "blue_share": blue_share, "units": n, "red": red, "blue": blue, "rows": rows}
