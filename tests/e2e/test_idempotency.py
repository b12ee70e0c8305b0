"""An Idempotency-Key makes a POST answer once: a retry gets the same body and the log no duplicates."""

from __future__ import annotations

import asyncio

from tests.e2e.journeys import AUDITOR, SX, send, topic_body
from tests.e2e.stack import Stack


async def test_retried_posts_return_the_first_answer_and_record_nothing_twice(stack: Stack):
    first = await send(stack, SX.proposer, "/v1/topics", topic_body(), expect=201, key="propose-1")
    again = await send(stack, SX.proposer, "/v1/topics", topic_body(), expect=201, key="propose-1")
    assert again == first
    other = await send(stack, SX.proposer, "/v1/topics", topic_body(), expect=201, key="propose-2")
    assert other["id"] != first["id"]
    path = f"/v1/topics/{first['id']}"

    reviewed = await send(stack, SX.manager, f"{path}/review", {"decision": "approve"}, key="review-1")
    # The same request sent three times at once, and once more after the topic moved on: one answer.
    published = await asyncio.gather(*(
        send(stack, SX.committee, f"{path}/publish", {"comment": "党委确定"}, key="publish-1") for _ in range(3)
    ))
    assert published[0] == published[1] == published[2] and published[0]["version"] == reviewed["version"] + 1
    claimed = await send(stack, SX.branch, f"{path}/claims", {"org": SX.branch_org}, key="claim-1")
    assert await send(stack, SX.manager, f"{path}/review", {"decision": "approve"}, key="review-1") == reviewed
    assert await send(stack, SX.branch, f"{path}/claims", {"org": SX.branch_org}, key="claim-1") == claimed

    log = (await send(stack, AUDITOR, f"{path}/events", None, method="GET"))["events"]
    assert [e["type"] for e in log] == ["TopicProposed", "ProposalApproved", "TopicPublished", "TopicClaimed"]
    assert await stack.event_count() == 5  # and one TopicProposed for the other topic
