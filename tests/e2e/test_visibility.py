"""Org-subtree isolation of GET /v1/topics and GET /v1/topics/{id}."""

from __future__ import annotations

from tests.e2e.journeys import AUDITOR, BJ, SX, drive, propose, send
from tests.e2e.stack import Stack, bearer

B017 = bearer("branch", "HQ/SX/TY/B017")
B018 = bearer("branch", "HQ/SX/TY/B018")
DT_CITY = bearer("manager", "HQ/SX/DT")
BJ_BRANCH = bearer("branch", "HQ/BJ/C1/B1")
SX_AUDITOR = bearer("auditor", "HQ/SX")


async def listed(stack: Stack, who: dict[str, str], query: str = "") -> set[str]:
    return {t["id"] for t in (await send(stack, who, f"/v1/topics{query}", None, method="GET"))["items"]}


async def test_each_unit_sees_its_subtree_its_claims_and_published_topics_above_it(stack: Stack):
    draft = (await propose(stack, title="山西草案"))["id"]  # proposed: only HQ/SX and above see it
    sx_open = (await drive(stack, await propose(stack, title="山西待认领"), "open"))["id"]
    city = (await drive(stack, await propose(stack, title="太原市课题"), "open"))["id"]
    # A topic B017 claimed and the committee then withdrew: B017 still sees it as claimant, B018 no longer.
    withdrawn = (await drive(stack, await propose(stack, title="已撤销"), "claimed"))["id"]
    await send(stack, SX.committee, f"/v1/topics/{withdrawn}/withdrawal", {"reason": "机构调整"})
    bj_open = (await drive(stack, await propose(stack, BJ, title="北京待认领"), "open", BJ))["id"]
    await stack.wait_until_projected()

    everything = {draft, sx_open, city, withdrawn, bj_open}
    assert await listed(stack, AUDITOR) == everything
    assert await listed(stack, SX.manager) == everything - {bj_open}
    assert await listed(stack, SX_AUDITOR) == everything - {bj_open}
    assert await listed(stack, B017) == {sx_open, city, withdrawn}
    assert await listed(stack, B018) == {sx_open, city}
    assert await listed(stack, DT_CITY) == {sx_open, city}
    assert await listed(stack, BJ_BRANCH) == {bj_open}
    assert await listed(stack, B017, "?claimed_by=HQ/SX/TY/B017") == {withdrawn}
    assert await listed(stack, AUDITOR, "?org=HQ/BJ") == {bj_open}
    assert await listed(stack, AUDITOR, "?state=open&q=待认领") == {sx_open, bj_open}

    pages, cursor = [], ""
    while cursor is not None and len(pages) < 10:
        page = await send(stack, AUDITOR, f"/v1/topics?limit=2{cursor and f'&cursor={cursor}'}", None, method="GET")
        pages.append([t["id"] for t in page["items"]])
        cursor = page["next_cursor"]
    assert [len(p) for p in pages] == [2, 2, 1] and {t for p in pages for t in p} == everything
    bad_cursor = await stack.as_(AUDITOR, "GET", "/v1/topics?cursor=bm9wZQ")
    assert (bad_cursor.status_code, bad_cursor.json()["error"]["code"]) == (422, "cursor.invalid")

    for who, allowed, forbidden in [
        (B017, [sx_open, withdrawn], [draft, bj_open]),
        (B018, [city], [draft, withdrawn, bj_open]),
        (BJ_BRANCH, [bj_open], [draft, sx_open, withdrawn]),
        (SX.manager, [draft, withdrawn], [bj_open]),
    ]:
        for topic_id in allowed:
            assert (await stack.as_(who, "GET", f"/v1/topics/{topic_id}")).status_code == 200
            assert (await stack.as_(who, "GET", f"/v1/topics/{topic_id}/events")).status_code == 200
        for topic_id in forbidden:
            for suffix in ("", "/events"):
                response = await stack.as_(who, "GET", f"/v1/topics/{topic_id}{suffix}")
                assert (response.status_code, response.json()["error"]["code"]) == (403, "topic.out_of_scope")
    assert (await stack.as_(B017, "GET", "/v1/topics/T-DOESNOTEXIST")).status_code == 404


async def test_a_fresh_topic_is_answered_from_its_workflow_before_the_projector_has_it(stack: Stack):
    topic = await propose(stack)
    await stack.wait_for_version(topic["id"], 1)
    await stack.pool.execute("DELETE FROM topics WHERE topic_id = $1", topic["id"])  # as if the projector lagged
    seen = await send(stack, SX.manager, f"/v1/topics/{topic['id']}", None, method="GET")
    assert (seen["id"], seen["state"], seen["version"]) == (topic["id"], "proposed", 1)
    forbidden = await stack.as_(BJ.manager, "GET", f"/v1/topics/{topic['id']}")
    assert forbidden.status_code == 403
