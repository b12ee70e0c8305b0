"""Finding a topic for a caller: the read model first, the workflow itself when the projector lags behind.

A user sees topics in their subtree (the topic's org or its claimant's), and published topics set above them
(branches must see what they can claim); anything else is a 403, a topic that does not exist a 404.
"""

from __future__ import annotations

import structlog

from api.errors import ApiError
from api.schemas.topics import TopicPublic
from domain import Actor, TopicState
from projections.queries import TopicQueries, topic_visible_to
from workflows.gateway import TopicGateway


def unknown_topic(topic_id: str) -> ApiError:
    return ApiError(404, "topic.unknown", f"there is no topic {topic_id}; list topics with GET /v1/topics",
                    topic_id=topic_id)


class TopicAccess:
    def __init__(self, topics: TopicQueries, gateway: TopicGateway) -> None:
        self._topics = topics
        self._gateway = gateway

    async def visible_topic(self, topic_id: str, actor: Actor) -> TopicPublic:
        """The topic as the read model has it (or the workflow, if not projected yet), checked for visibility."""
        structlog.contextvars.bind_contextvars(topic_id=topic_id)
        row = await self._topics.get_topic(topic_id)
        if row is not None:
            state = TopicState.model_validate({**row, "status": row["state"], "topic_id": row["id"]})
            times = {"proposed_at": row.get("proposed_at"), "updated_at": row.get("updated_at")}
            if not self.is_visible(state, actor):  # the read model may lag (e.g. just published): ask the workflow
                fresh = await self._gateway.current_state(topic_id)
                if fresh is not None and fresh.version > state.version:
                    state, times = fresh, {}
        else:
            state = await self._gateway.current_state(topic_id)
            if state is None or state.status == "none":
                raise unknown_topic(topic_id)
            times = {}
        self.require_visible(state, actor)
        return TopicPublic.from_state(state, **times)

    @staticmethod
    def is_visible(state: TopicState, actor: Actor) -> bool:
        row = {"org": state.org, "state": state.status, "claimed_by": state.claim.org if state.claim else None}
        return topic_visible_to(row, actor.org)

    @classmethod
    def require_visible(cls, state: TopicState, actor: Actor) -> None:
        if not cls.is_visible(state, actor):
            raise ApiError(403, "topic.out_of_scope",
                           f"topic {state.topic_id} belongs to {state.org}, outside what {actor.org} may see; "
                           "users see topics of their own subtree and published topics of the units above them",
                           topic_id=state.topic_id, org=state.org, actor_org=actor.org)
