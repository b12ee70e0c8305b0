"""Completion trend (GET /v1/reports/completion/trend): the completion report's totals at the end of every month
or quarter between two dates, in one SQL statement (generate_series joined with topic_completion).

Each point is the end of its period's last day in the configured time zone (the same instant `as_of=<that date>`
means), the last one clipped to the end of `until`; its numbers equal the completion report's total as of it.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.queries.completion import _IN_SUBTREE, UNIT_KINDS, end_of_day, subtree_params

Interval = Literal["month", "quarter"]
MAX_POINTS = 240
_MONTHS = {"month": 1, "quarter": 3}
_LABEL = {"month": "YYYY-MM", "quarter": 'YYYY"Q"Q'}

_TREND = text("""
WITH starts AS (
    SELECT d FROM generate_series(date_trunc(:unit, CAST(:since AS timestamp)), CAST(:until_day AS timestamp),
                                  make_interval(months => CAST(:months AS int))) AS d
), points AS (
    SELECT to_char(d, :label) AS period,
           least((d + make_interval(months => CAST(:months AS int))) AT TIME ZONE :tz - interval '1 microsecond',
                 :until) AS at
    FROM starts
)
SELECT p.period, p.at,
       count(t.topic_id) FILTER (WHERE NOT coalesce(t.withdrawn_at <= p.at, false)) AS claimed,
       count(t.topic_id) FILTER (WHERE NOT coalesce(t.withdrawn_at <= p.at, false)
                                   AND t.concluded_at <= p.at) AS concluded,
       count(t.topic_id) FILTER (WHERE t.withdrawn_at <= p.at) AS withdrawn,
       count(DISTINCT t.claim_org) FILTER (WHERE NOT coalesce(t.withdrawn_at <= p.at, false)) AS units_claimed,
       (SELECT count(*) FROM orgs
        WHERE kind = ANY(:unit_kinds) AND """ + _IN_SUBTREE.format(col="path") + """) AS units_total
FROM points p
LEFT JOIN topic_completion t
       ON t.claimed_at <= p.at AND """ + _IN_SUBTREE.format(col="t.claim_org") + """
GROUP BY p.period, p.at
ORDER BY p.at
""")


def period_count(since: date, until: date, interval: Interval) -> int:
    """How many points `trend` returns: the periods from the one holding `since` to the one holding `until`."""
    per_year, months = (12, 1) if interval == "month" else (4, 3)

    def index(day: date) -> int:
        return day.year * per_year + (day.month - 1) // months

    return index(until) - index(since) + 1


class CompletionTrend:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def trend(self, org: str, since: date, until: date, interval: Interval = "month",
                    timezone: str = "Asia/Shanghai") -> dict[str, Any]:
        """{org, from, to, interval, timezone, points}; each point: period (2025-03 or 2025Q1), at, claimed,
        concluded, in_progress, withdrawn, completion_rate, units_claimed, units_total."""
        if interval not in _MONTHS:
            raise ValueError(f"interval must be 'month' or 'quarter', not {interval!r}")
        if since > until:
            raise ValueError(f"from {since} is after to {until}")
        if period_count(since, until, interval) > MAX_POINTS:
            raise ValueError(f"from {since} to {until} spans more than {MAX_POINTS} {interval}s")
        params = {
            **subtree_params(org), "unit": interval, "months": _MONTHS[interval],
            "label": _LABEL[interval],
            "tz": timezone, "since": datetime.combine(since, time()),
            "until_day": datetime.combine(until, time()), "until": end_of_day(until, timezone),
            "unit_kinds": list(UNIT_KINDS),
        }
        async with self._engine.connect() as conn:
            records = [dict(r._mapping) for r in await conn.execute(_TREND, params)]
        return {"org": org, "from": since, "to": until, "interval": interval, "timezone": timezone,
                "points": [_point(r, ZoneInfo(timezone)) for r in records]}


def _point(record: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    claimed, concluded = record["claimed"], record["concluded"]
    return {
        "period": record["period"], "at": record["at"].astimezone(zone), "claimed": claimed, "concluded": concluded,
        "in_progress": claimed - concluded, "withdrawn": record["withdrawn"],
        "completion_rate": round(concluded / claimed, 4) if claimed else 0.0,
        "units_claimed": record["units_claimed"], "units_total": record["units_total"],
    }
