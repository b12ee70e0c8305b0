"""季度管控会 over HTTP: one request opens a quarter's checkpoint on every controlled topic of a subtree, exactly
once however often it is repeated; topics elsewhere are untouched, refusals are reported, callers are checked."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from domain import Actor
from domain import commands as c
from domain.calendar import quarter_of
from tests import factories
from tests.e2e.journeys import AUDITOR, BJ, SX, Cast, drive, propose, send
from tests.e2e.stack import Stack, bearer
from workflows.gateway import TopicGateway

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUARTER = quarter_of(datetime.now(SHANGHAI).date())
MEETINGS = "/v1/control-meetings"
BRANCHES = (SX, Cast("HQ/SX", "HQ/SX/TY/B018"), Cast("HQ/SX", "HQ/SX/DT/B001"))
CHUNK = 25  # topics driven over HTTP at once
BULK = 40  # topics made through the gateway at once


async def in_progress_over_http(stack: Stack, count: int, casts: tuple[Cast, ...] = BRANCHES) -> list[dict]:
    """`count` topics driven to in_progress over HTTP, `CHUNK` at a time, claimed in turn by the casts' branches.
    A branch finds a published topic through the read model, so each waits for its publication to be projected."""
    async def one(cast: Cast) -> dict:
        published = await drive(stack, await propose(stack, cast), "open", cast)
        await stack.wait_for_version(published["id"], published["version"])
        return await drive(stack, published, "in_progress", cast)

    topics: list[dict] = []
    for start in range(0, count, CHUNK):
        chunk = range(start, min(start + CHUNK, count))
        topics += await asyncio.gather(*(one(casts[n % len(casts)]) for n in chunk))
    return topics


def _steps(topic_id: str, owner: str, branch_org: str) -> list[tuple[c.Command, Actor]]:
    """点题 to 破题中 as commands: the owning unit's people, and the branch that claims the topic."""
    def who(role: str, org: str = owner) -> Actor:
        return Actor(sub=f"{role}.{org}", role=role, org=org)

    claimant = who("branch", branch_org)
    return [
        (factories.propose(topic_id, org=owner), who("branch")),
        (c.ReviewProposal(decision="approve"), who("manager")),
        (c.PublishTopic(), who("committee")),
        (c.ClaimTopic(org=branch_org), claimant),
        (c.DecideClaim(claim_id="C1", decision="confirm"), who("business")),
        (c.SubmitPlan(summary="PDCA", milestones=[{"key": "m1", "title": "摸底", "due_date": factories.in_days(60)}]),
         claimant),
        (c.DecidePlan(decision="approve"), who("manager")),
    ]


async def in_progress_in_bulk(stack: Stack, gateway: TopicGateway, count: int, owner: str = "HQ/SX",
                              branches: tuple[str, ...] = tuple(cast.branch_org for cast in BRANCHES)) -> list[str]:
    """`count` in_progress topics made fast: the commands go straight to the workflows on the stack's task queue
    (no HTTP, no waiting for the read model between steps), `BULK` topics at a time; then all are projected."""
    gate = asyncio.Semaphore(BULK)

    async def one(n: int) -> str:
        topic_id = f"T-BULK{n:05d}{uuid.uuid4().hex[:6].upper()}"
        async with gate:
            (propose, proposer), *rest = _steps(topic_id, owner, branches[n % len(branches)])
            await gateway.propose(propose, proposer)
            for command, actor in rest:
                await gateway.execute(topic_id, command, actor)
        return topic_id

    topic_ids = await asyncio.gather(*(one(n) for n in range(count)))
    await stack.wait_until_projected(timeout=60)
    return list(topic_ids)


async def checkpoints_opened(stack: Stack, quarter: str) -> int:
    return await stack.pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type = 'CheckpointOpened' AND data->>'quarter' = $1", quarter)


async def test_a_meeting_over_200_topics_opens_200_checkpoints_exactly_once_however_often_repeated(
        stack: Stack, gateway: TopicGateway):
    started = time.monotonic()
    topics = await in_progress_in_bulk(stack, gateway, 200)
    beijing = (await in_progress_over_http(stack, 1, (BJ,)))[0]  # in progress too, but in another province
    waiting = await drive(stack, await propose(stack), "open")  # in HQ/SX, but not claimed: no checkpoints
    await stack.wait_until_projected()
    driven = time.monotonic() - started
    due = (datetime.now(SHANGHAI) + timedelta(days=20)).replace(microsecond=0)
    body = {"org": "HQ/SX", "quarter": QUARTER, "report_due": due.isoformat()}

    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        first = await send(stack, SX.manager, MEETINGS, body, key="meeting-1")
    convened = time.monotonic() - started
    assert first == {"org": "HQ/SX", "quarter": QUARTER, "report_due": first["report_due"], "topics": 200,
                     "opened": 200, "already_open": 0, "refused": []}
    assert datetime.fromisoformat(first["report_due"]) == due
    assert await checkpoints_opened(stack, QUARTER) == 200
    (line,) = [entry for entry in logs if entry["event"] == "control_meeting"]
    assert (line["topics"], line["opened"], line["already_open"], line["refused"]) == (200, 200, 0, 0)

    # The same request again (same Idempotency-Key, as after a crash), twice at once, and once without a key,
    # by another manager of the province: everything is open already, nothing is recorded.
    other_manager = bearer("manager", "HQ/SX", "deputy.HQ/SX")
    repeats = await asyncio.gather(send(stack, SX.manager, MEETINGS, body, key="meeting-1"),
                                   send(stack, SX.manager, MEETINGS, body, key="meeting-1"),
                                   send(stack, other_manager, MEETINGS, {**body, "report_due": None}))
    for repeat in repeats:
        assert (repeat["topics"], repeat["opened"], repeat["already_open"], repeat["refused"]) == (200, 0, 200, [])
    assert await checkpoints_opened(stack, QUARTER) == 200

    sample = await send(stack, SX.branch, f"/v1/topics/{topics[0]}", None, method="GET")
    assert [(c["quarter"], c["status"]) for c in sample["checkpoints"]] == [(QUARTER, "open")]
    assert datetime.fromisoformat(sample["checkpoints"][0]["report_due"]) == due
    for untouched in (beijing, waiting):
        seen = await send(stack, AUDITOR, f"/v1/topics/{untouched['id']}", None, method="GET")
        assert seen["checkpoints"] == [] and seen["version"] == untouched["version"]
    print(f"\n200 topics driven to in_progress in {driven:.1f}s; the meeting took {convened:.1f}s")


async def test_the_meeting_reaches_claimed_topics_and_reports_what_the_rules_refuse(stack: Stack):
    city = Cast("HQ/SX/TY", "HQ/SX/TY/B017")  # topics owned by the city, claimed by its branch
    owned_by_city = await in_progress_over_http(stack, 2, (city,))
    owned_above = (await in_progress_over_http(stack, 1, (SX,)))[0]  # owned by the province, claimed in the city
    claimed_only = await drive(stack, await propose(stack), "claimed")  # claimed: controlled too
    await stack.wait_until_projected()
    city_manager = bearer("manager", "HQ/SX/TY", "manager.TY")

    # Sent twice at once (a client's retry overtaking its first try): each topic is opened by one shared update.
    twice = await asyncio.gather(*(send(stack, city_manager, MEETINGS, {"org": "HQ/SX/TY", "quarter": QUARTER},
                                        key="ty-meeting") for _ in range(2)))
    for result in twice:
        assert (result["topics"], result["opened"] + result["already_open"], len(result["refused"])) == (4, 2, 2)
    result = twice[0]
    assert sorted(r["topic_id"] for r in result["refused"]) == sorted([owned_above["id"], claimed_only["id"]])
    assert {r["code"] for r in result["refused"]} == {"org.out_of_scope"}
    assert await checkpoints_opened(stack, QUARTER) == 2
    # The province's manager may act on all of them: the two still closed open now.
    province = await send(stack, SX.manager, MEETINGS, {"org": "HQ/SX/TY", "quarter": QUARTER})
    assert (province["topics"], province["opened"], province["already_open"], province["refused"]) == (4, 2, 2, [])
    # With no report_due, reports are due at the quarter's end plus the report window.
    year, number = int(QUARTER[:4]), int(QUARTER[-1])
    first_of_next = datetime(year + number // 4, number % 4 * 3 + 1, 1, tzinfo=SHANGHAI)
    assert datetime.fromisoformat(province["report_due"]) == first_of_next + timedelta(days=15)
    assert await checkpoints_opened(stack, QUARTER) == 4
    ids = {t["id"] for t in owned_by_city}
    assert all(r["topic_id"] not in ids for r in result["refused"])


async def test_who_may_convene_a_meeting_and_for_which_unit(stack: Stack):
    body = {"org": "HQ/SX", "quarter": QUARTER}

    async def error(who: dict[str, str], changes: dict, status: int) -> dict:
        response = await stack.as_(who, "POST", MEETINGS, json={**body, **changes})
        assert response.status_code == status, response.text
        return response.json()["error"]

    assert (await error(SX.branch, {}, 403))["code"] == "role.not_allowed"
    assert (await error(SX.committee, {}, 403))["code"] == "role.not_allowed"
    assert (await error(BJ.manager, {}, 403))["code"] == "org.out_of_scope"
    city_manager = bearer("manager", "HQ/SX/TY")
    assert (await error(city_manager, {}, 403))["code"] == "org.out_of_scope"  # the province is above the city
    unknown = await error(SX.manager, {"org": "HQ/SX/XX"}, 422)
    assert (unknown["code"], unknown["details"]["path"]) == ("org.unknown", "HQ/SX/XX")
    for changes, field in (({"quarter": "2026Q7"}, "quarter"), ({"quarter": "2026-3"}, "quarter"),
                           ({"org": "HQ//SX"}, "org"), ({"report_due": "soon"}, "report_due"),
                           ({"report_due": "2020-01-15T00:00:00+08:00"}, "report_due"),
                           ({"quarter": "2020Q1"}, "report_due"),  # its default report window is long over
                           ({"extra": 1}, "extra")):
        invalid = await error(SX.manager, changes, 422)
        assert invalid["code"] == "request.invalid"
        assert [e["loc"] for e in invalid["details"]["errors"]] == [["body", field]], (changes, invalid)
    response = await stack.as_({}, "POST", MEETINGS, json=body)
    assert response.status_code == 401
    assert await stack.event_count() == 0
