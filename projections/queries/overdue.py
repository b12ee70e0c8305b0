"""What is overdue in a subtree (分级督办, GET /v1/reports/overdue): missed due dates not yet resolved, with how far
up they have been escalated, and the reminder interviews (约谈提醒) units owe.

- An item is a `DeadlineMissed` (a milestone or the topic's own due date) whose work has not been reported since
  (the milestone reported complete, the conclusion submitted), of a topic neither concluded nor withdrawn, claimed by
  a unit in the subtree. `level` is how many times it was escalated (0: not yet), `escalated_to` the unit it was
  last escalated to. `days_overdue` counts whole days from the due date to `today` (the configured time zone): the
  day after the due date is 1.
- Reminder interviews: each `ReminderInterviewRequired` (two checkpoints missed in a row) of a topic neither
  concluded nor withdrawn, grouped per unit (the claiming unit the interview is for).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_ITEMS = text("""
SELECT d.topic_id, t.title, d.claim_org AS claimed_by, c.name AS claimed_by_name, d.kind, d.key,
       d.title AS item_title, d.due_date, d.missed_at, d.level, d.escalated_to, e.name AS escalated_to_name,
       d.escalated_at
FROM control_deadlines d
JOIN control_topics t ON t.topic_id = d.topic_id
LEFT JOIN orgs c ON c.path = d.claim_org
LEFT JOIN orgs e ON e.path = d.escalated_to
WHERE d.resolved_at IS NULL AND t.status = 'active'
  AND (d.claim_org = :org OR starts_with(d.claim_org, :prefix))
ORDER BY d.due_date, d.level DESC, d.topic_id, d.kind, d.key
""")

_REMINDERS = text("""
SELECT r.org, o.name, r.topic_id, t.title, r.quarters, r.required_at
FROM control_reminders r
JOIN control_topics t ON t.topic_id = r.topic_id
LEFT JOIN orgs o ON o.path = r.org
WHERE t.status = 'active' AND (r.org = :org OR starts_with(r.org, :prefix))
ORDER BY r.org, r.required_at DESC, r.topic_id
""")


class OverdueReports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def overdue(self, org: str, today: date) -> dict[str, Any]:
        """{org, today, total, by_level, items, reminders}; items oldest due date first; reminders per unit:
        {org, name, interviews, topics, latest_at, items: [{topic_id, title, quarters, required_at}]}."""
        params = {"org": org, "prefix": org + "/"}
        async with self._engine.connect() as conn:
            items = [dict(r._mapping) for r in await conn.execute(_ITEMS, params)]
            reminders = [dict(r._mapping) for r in await conn.execute(_REMINDERS, params)]
        by_level: dict[str, int] = {}
        for item in items:
            item["days_overdue"] = (today - item["due_date"]).days
            by_level[str(item["level"])] = by_level.get(str(item["level"]), 0) + 1
        units: dict[str, dict[str, Any]] = {}
        for r in reminders:
            unit = units.setdefault(r["org"], {"org": r["org"], "name": r["name"] or r["org"], "interviews": 0,
                                               "topics": 0, "latest_at": r["required_at"], "items": []})
            unit["interviews"] += 1
            unit["items"].append({"topic_id": r["topic_id"], "title": r["title"], "quarters": list(r["quarters"]),
                                  "required_at": r["required_at"]})
        for unit in units.values():
            unit["topics"] = len({i["topic_id"] for i in unit["items"]})
        return {"org": org, "today": today, "total": len(items), "by_level": dict(sorted(by_level.items())),
                "items": items, "reminders": list(units.values())}
