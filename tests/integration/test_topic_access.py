"""Visibility checks read the projection, which may lag: the workflow's own state decides before a refusal."""

from __future__ import annotations

import uuid

import pytest

from api.errors import ApiError
from api.topic_access import TopicAccess
from domain import Actor
from projections.queries import TopicQueries
from projections.runner import Projector
from tests import factories as f


async def test_a_branch_may_claim_a_topic_published_after_the_last_projection(gateway, worker, pool, engine):
    topic_id = f"T-{uuid.uuid4().hex[:10].upper()}"
    steps = f.lifecycle(topic_id)
    await gateway.propose(steps[0][0], steps[0][1])
    await gateway.execute(topic_id, *steps[1])
    await Projector(pool).catch_up()  # the read model has the topic as 待党委确定: not visible to branches yet
    await gateway.execute(topic_id, *steps[2])  # published; the read model does not know it
    access = TopicAccess(TopicQueries(engine, pool), gateway)
    branch = steps[3][1]

    topic = await access.visible_topic(topic_id, branch)

    assert topic.state == "open"
    stranger = Actor(sub="x", role="branch", org="HQ/BJ/C1/B1")
    with pytest.raises(ApiError) as refused:
        await access.visible_topic(topic_id, stranger)
    assert refused.value.code == "topic.out_of_scope"
