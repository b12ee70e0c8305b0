"""What the routes work with, built once from the `ApiContext` when the app starts."""

from __future__ import annotations

from dataclasses import dataclass

from api.context import ApiContext
from projections.orgs import OrgDirectory
from projections.queries import CompletionReports, TopicQueries
from workflows.gateway import TopicGateway


@dataclass(frozen=True)
class Services:
    context: ApiContext
    gateway: TopicGateway
    topics: TopicQueries
    orgs: OrgDirectory
    reports: CompletionReports

    @classmethod
    def build(cls, context: ApiContext) -> Services:
        return cls(
            context=context,
            gateway=TopicGateway(context.temporal, context.task_queue, timezone=context.timezone,
                                 policy=context.policy),
            topics=TopicQueries(context.engine, context.pool),
            orgs=OrgDirectory(context.engine),
            reports=CompletionReports(context.engine, context.pool),
        )
