"""Twenty branches claim one open topic at the same moment: exactly one pending claim, nineteen 409s."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.e2e.conftest import seed_orgs
from tests.e2e.journeys import AUDITOR, drive, propose, send
from tests.e2e.stack import Stack, bearer

BRANCHES = [f"HQ/SX/TY/C{n:02d}" for n in range(1, 21)]


async def test_twenty_simultaneous_claims_leave_exactly_one_pending_claim(stack: Stack):
    await seed_orgs(stack, [(path, f"支部 {path[-3:]}", "branch") for path in BRANCHES])
    topic = await drive(stack, await propose(stack), "open")
    path = f"/v1/topics/{topic['id']}/claims"
    before = await stack.event_count()

    responses = await asyncio.gather(*(
        stack.as_(bearer("branch", org), "POST", path, json={"org": org, "note": "我们认领"}) for org in BRANCHES
    ))

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 19}
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert (winner["state"], winner["claim_id"]) == ("claim_pending", "C1")
    losers = {r.json()["error"]["code"] for r in responses if r.status_code == 409}
    assert losers <= {"claim.taken", "state.not_allowed"}
    assert await stack.event_count() == before + 1
    seen = await send(stack, AUDITOR, f"/v1/topics/{topic['id']}", None, method="GET")
    assert seen["claim"]["org"] == winner["claimed_by"] and seen["claim"]["status"] == "pending"
    log = (await send(stack, AUDITOR, f"/v1/topics/{topic['id']}/events", None, method="GET"))["events"]
    assert [e["type"] for e in log].count("TopicClaimed") == 1
