"""GET /v1/audit/events over HTTP: who did what, when, across all topics; filters, keyset paging, CSV, roles.

The log holds a year of history appended with the real decider (2025) plus topics driven through the API now.
The expected rows are computed here from the `events` table with the documented rule for an event's units:
its topic's org (TopicProposed) and the org of the latest claim made by then.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.orgs import contains
from projections.queries import audit as audit_queries
from tests.e2e.journeys import AUDITOR, BJ, SX, drive, propose
from tests.e2e.stack import Stack, bearer
from tests.integration.test_reports_asof import seed_year

TZ = ZoneInfo("Asia/Shanghai")


async def logged(stack: Stack) -> list[dict[str, Any]]:
    """Every topic event, newest first, with its topic org and claim org worked out in Python."""
    rows = [dict(r) for r in await stack.pool.fetch(
        "SELECT global_position, stream_id, stream_version, event_type, data, metadata, occurred_at FROM events "
        "WHERE stream_id LIKE 'topic-%' ORDER BY stream_id, stream_version")]
    topic_org: dict[str, str] = {}
    claim_org: dict[str, str | None] = {}
    for row in rows:
        stream = row["stream_id"]
        if row["stream_version"] == 1:
            topic_org[stream], claim_org[stream] = row["data"]["org"], None
        if row["event_type"] == "TopicClaimed":
            claim_org[stream] = row["data"]["org"]
        row["topic_org"], row["claim_org"] = topic_org[stream], claim_org[stream]
    return sorted(rows, key=lambda r: -r["global_position"])


def within(row: dict[str, Any], org: str) -> bool:
    return contains(org, row["topic_org"]) or (row["claim_org"] is not None and contains(org, row["claim_org"]))


async def every_page(stack: Stack, query: str, who: dict[str, str] = AUDITOR, limit: int = 37) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        url = f"/v1/audit/events?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await stack.as_(who, "GET", url)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        pages += 1
        assert len(page["items"]) <= limit
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert pages < 1000


def positions(items: list[dict]) -> list[int]:
    return [item.get("position", item.get("global_position")) for item in items]


@pytest.fixture
async def history(stack: Stack) -> Stack:
    await seed_year(stack)
    await drive(stack, await propose(stack, BJ), "open", BJ)
    await drive(stack, await propose(stack, SX), "claimed", SX)
    return stack


async def test_auditor_pages_through_every_event_newest_first(history: Stack):
    expected = await logged(history)
    items = await every_page(history, "")
    assert positions(items) == positions(expected)
    assert len(items) > 300
    newest = items[0]  # the business department's confirmation of the SX claim, just now, over HTTP
    assert (newest["type"], newest["topic_org"], newest["claim_org"]) == ("ClaimConfirmed", "HQ/SX", "HQ/SX/TY/B017")
    assert newest["actor"] == {"sub": "business.HQ/SX", "role": "business", "org": "HQ/SX", "name": "business.HQ/SX"}
    assert newest["data"]["claim_id"] == "C1" and newest["correlation_id"]
    assert newest["version"] == 5 and newest["topic_id"].startswith("T-")
    assert datetime.fromisoformat(newest["occurred_at"]) > datetime(2026, 1, 1, tzinfo=TZ)


async def test_filters_by_actor_type_org_and_time(history: Stack):
    everything = await logged(history)
    since, until = datetime(2025, 3, 1, tzinfo=TZ), datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=TZ)
    cases = {
        "actor=business.HQ/SX": lambda r: r["metadata"]["actor"]["sub"] == "business.HQ/SX",
        "type=ClaimConfirmed": lambda r: r["event_type"] == "ClaimConfirmed",
        "type=TopicClaimed,ClaimRejected&type=TopicWithdrawn":
            lambda r: r["event_type"] in ("TopicClaimed", "ClaimRejected", "TopicWithdrawn"),
        "org=HQ/BJ": lambda r: within(r, "HQ/BJ"),
        "org=HQ/SX/TY": lambda r: within(r, "HQ/SX/TY"),
        "from=2025-03-01&to=2025-06-30": lambda r: since <= r["occurred_at"] <= until,
        "from=2025-03-01T00:00:00&to=2025-06-30&org=HQ/SX&type=ConclusionApproved":
            lambda r: since <= r["occurred_at"] <= until and within(r, "HQ/SX")
            and r["event_type"] == "ConclusionApproved",
    }
    for query, wanted in cases.items():
        expected = [r for r in everything if wanted(r)]
        assert expected, query
        assert positions(await every_page(history, query.replace("+", "%2B"), limit=11)) == positions(expected), query


@pytest.mark.parametrize("few_streams", [audit_queries.FEW_STREAMS, 1])  # 1: scopes with many topics
async def test_managers_see_their_subtree_and_other_roles_are_refused(history: Stack, monkeypatch, few_streams):
    monkeypatch.setattr(audit_queries, "FEW_STREAMS", few_streams)
    everything = await logged(history)
    province = await every_page(history, "", who=bearer("manager", "HQ/SX"))
    assert positions(province) == positions([r for r in everything if within(r, "HQ/SX")])
    csv_body = await history.as_(bearer("manager", "HQ/SX"), "GET", "/v1/audit/events", headers={"Accept": "text/csv"})
    assert [int(r[0]) for r in list(csv.reader(io.StringIO(csv_body.text.lstrip("\ufeff"))))[1:]] == positions(province)
    city = await every_page(history, "", who=bearer("manager", "HQ/SX/TY"))
    assert positions(city) == positions([r for r in everything if within(r, "HQ/SX/TY")])
    # A city manager sees a province topic claimed in the city from the claim on, not its proposal.
    claimed_here = [r for r in city if r["topic_org"] == "HQ/SX" and r["claim_org"] == "HQ/SX/TY/B017"]
    assert claimed_here and all(r["type"] != "TopicProposed" for r in claimed_here)

    outside = await history.as_(bearer("manager", "HQ/SX"), "GET", "/v1/audit/events?org=HQ")
    assert (outside.status_code, outside.json()["error"]["code"]) == (403, "org.out_of_scope")
    for role in ("branch", "business", "committee", "admin"):
        refused = await history.as_(bearer(role, "HQ"), "GET", "/v1/audit/events",
                                    headers={"Accept": "text/csv"})
        assert refused.status_code == 403, role
        assert refused.json()["error"]["code"] == "role.not_allowed"
        assert set(refused.json()["error"]) == {"code", "message", "details"}
    anonymous = await history.http.get("/v1/audit/events")
    assert anonymous.status_code == 401


async def test_csv_streams_every_matching_row_with_a_bom(history: Stack):
    expected = [r for r in await logged(history) if within(r, "HQ/SX")]
    response = await history.as_(AUDITOR, "GET", "/v1/audit/events?org=HQ/SX&limit=5",
                                 headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号 position", "课题 topic_id", "版本 version", "事件 type"]
    body = rows[1:]
    assert [int(r[0]) for r in body] == positions(expected)  # every row, not one page of 5
    first = body[0]
    assert first[3] == "ClaimConfirmed" and first[5] == "business.HQ/SX" and first[9] == "HQ/SX"
    assert any("领题" in r[11] for r in body)  # Chinese data survives


async def test_csv_stops_at_the_cap_and_says_where_to_continue(history: Stack, monkeypatch):
    monkeypatch.setattr(audit_queries, "CSV_CAP", 7)
    monkeypatch.setattr(audit_queries, "CSV_CHUNK", 3)
    expected = await logged(history)
    response = await history.as_(AUDITOR, "GET", "/v1/audit/events", headers={"Accept": "text/csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    assert [int(r[0]) for r in rows[:7]] == positions(expected[:7])
    assert len(rows) == 8 and "truncated" in rows[7][0]
    cursor = rows[7][0].rsplit("cursor=", 1)[1]
    rest = await history.as_(AUDITOR, "GET", f"/v1/audit/events?limit=3&cursor={cursor}")
    assert positions(rest.json()["items"]) == positions(expected[7:10])


async def test_bad_cursor_type_or_date_is_a_422(history: Stack):
    for query, accept in [("cursor=bm90LWEtY3Vyc29y", "application/json"), ("cursor=%%%", "text/csv"),
                          ("type=TopicInvented", "application/json"), ("from=yesterday", "text/csv"),
                          ("limit=0", "application/json"), ("org=HQ/%20x", "application/json")]:
        response = await history.as_(AUDITOR, "GET", f"/v1/audit/events?{query}", headers={"Accept": accept})
        assert response.status_code == 422, query
        assert response.json()["error"]["code"] in ("cursor.invalid", "request.invalid"), query
