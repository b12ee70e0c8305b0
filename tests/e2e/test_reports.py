"""Completion report numbers on a seeded set of units and topics in two provinces, now and as of a past instant."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from tests.e2e.journeys import AUDITOR, BJ, SX, Cast, drive, propose, send
from tests.e2e.stack import Stack, bearer

SX_B018 = Cast("HQ/SX", "HQ/SX/TY/B018")
SX_DT = Cast("HQ/SX", "HQ/SX/DT/B001")


def counts(row: dict) -> tuple:
    return row["claimed"], row["concluded"], row["in_progress"], row["withdrawn"], row["completion_rate"]


async def report(stack: Stack, query: str, who: dict[str, str] = AUDITOR) -> dict:
    return await send(stack, who, f"/v1/reports/completion?{query}", None, method="GET")


def by(rows: list[dict], key: str) -> dict[str, tuple]:
    return {row[key]: counts(row) for row in rows}


async def test_completion_counts_per_province_city_and_category_now_and_in_the_past(stack: Stack):
    # Before the past instant: SX1 concluded (B017), SX2 claimed (B018), SX3 claimed (DT/B001), BJ1 claimed;
    # SX4 open and BJ2 with a claim still pending count nowhere.
    await drive(stack, await propose(stack, SX, category="服务质量"), "concluded", SX)
    await drive(stack, await propose(stack, SX_B018, category="经营管理"), "claimed", SX_B018)
    sx3 = await drive(stack, await propose(stack, SX_DT, category="服务质量"), "claimed", SX_DT)
    bj1 = await drive(stack, await propose(stack, BJ, category="财务管理"), "in_progress", BJ)
    await drive(stack, await propose(stack, SX, category="服务质量"), "open", SX)
    await drive(stack, await propose(stack, BJ, category="服务质量"), "claim_pending", BJ)
    await asyncio.sleep(0.05)
    past = datetime.now(UTC)
    await asyncio.sleep(0.05)
    # After it: BJ1 is concluded and SX3 withdrawn.
    await drive(stack, bj1, "concluded", BJ)
    await send(stack, SX.committee, f"/v1/topics/{sx3['id']}/withdrawal", {"reason": "机构调整"})
    await stack.wait_until_projected()

    now = await report(stack, "group_by=child")
    assert now["org"] == "HQ" and now["group_by"] == "child"
    assert by(now["rows"], "org") == {"HQ/BJ": (1, 1, 0, 0, 1.0), "HQ/SX": (2, 1, 1, 1, 0.5)}
    assert counts(now["total"]) == (3, 2, 1, 1, 0.6667)

    cities = await report(stack, "org=HQ/SX&group_by=child")
    assert by(cities["rows"], "org") == {"HQ/SX/DT": (0, 0, 0, 1, 0.0), "HQ/SX/TY": (2, 1, 1, 0, 0.5)}

    categories = await report(stack, "group_by=category")
    assert by(categories["rows"], "category") == {
        "服务质量": (1, 1, 0, 1, 1.0), "经营管理": (1, 0, 1, 0, 0.0), "财务管理": (1, 1, 0, 0, 1.0)}

    then = await report(stack, f"as_of={past.isoformat().replace('+00:00', 'Z')}")
    assert by(then["rows"], "org") == {"HQ/BJ": (1, 0, 1, 0, 0.0), "HQ/SX": (3, 1, 2, 0, 0.3333)}
    then_by_category = await report(stack, f"group_by=category&as_of={past.isoformat().replace('+00:00', 'Z')}")
    assert by(then_by_category["rows"], "category") == {
        "服务质量": (2, 1, 1, 0, 0.5), "经营管理": (1, 0, 1, 0, 0.0), "财务管理": (1, 0, 1, 0, 0.0)}

    yesterday = await report(stack, f"as_of={date.today() - timedelta(days=2)}")
    assert all(counts(row)[:4] == (0, 0, 0, 0) for row in yesterday["rows"]) and counts(yesterday["total"])[0] == 0
    assert yesterday["as_of"].endswith("23:59:59.999999+08:00")

    mine = await report(stack, "", who=SX.manager)  # defaults to the caller's own unit
    assert mine["org"] == "HQ/SX" and counts(mine["total"]) == (2, 1, 1, 1, 0.5)
    outside = await stack.as_(bearer("auditor", "HQ/SX"), "GET", "/v1/reports/completion?org=HQ")
    assert (outside.status_code, outside.json()["error"]["code"]) == (403, "org.out_of_scope")
    malformed = await stack.as_(AUDITOR, "GET", "/v1/reports/completion?as_of=last-tuesday&group_by=unit")
    assert malformed.status_code == 422
    assert {tuple(e["loc"]) for e in malformed.json()["error"]["details"]["errors"]} == {("query", "group_by")}
