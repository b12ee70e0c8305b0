"""Dependencies of the routes, as `Annotated` aliases: `CurrentActor`, `Gateway`, `IdempotencyKey`, …"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import actor_from_token
from api.commands import TopicCommands
from api.context import ApiContext
from api.errors import ApiError
from api.orgs_check import KnownOrgs
from api.services import Services
from api.topic_access import TopicAccess
from domain import Actor
from domain.actors import ROLE_LABELS
from domain.orgs import contains
from projections.orgs import OrgDirectory
from projections.queries import CompletionReports, TopicQueries
from workflows.gateway import TopicGateway

# Every dependency is `async def`: FastAPI runs sync ones in a worker thread, which costs a hop per request and
# loses the structlog context they bind.
_bearer = HTTPBearer(auto_error=False, description="JWT (HS256) with claims sub, role, org, name, exp")


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_context(services: ServicesDep) -> ApiContext:
    return services.context


async def get_gateway(services: ServicesDep) -> TopicGateway:
    return services.gateway


async def get_topic_queries(services: ServicesDep) -> TopicQueries:
    return services.topics


async def get_org_directory(services: ServicesDep) -> OrgDirectory:
    return services.orgs


async def get_completion_reports(services: ServicesDep) -> CompletionReports:
    return services.reports


Context = Annotated[ApiContext, Depends(get_context)]
Gateway = Annotated[TopicGateway, Depends(get_gateway)]
Topics = Annotated[TopicQueries, Depends(get_topic_queries)]
Orgs = Annotated[OrgDirectory, Depends(get_org_directory)]
Reports = Annotated[CompletionReports, Depends(get_completion_reports)]


async def get_current_actor(context: Context,
                            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    actor = actor_from_token(credentials.credentials if credentials else None, context.jwt_secret)
    structlog.contextvars.bind_contextvars(actor=actor.sub, role=actor.role, actor_org=actor.org)
    return actor


CurrentActor = Annotated[Actor, Depends(get_current_actor)]


async def get_request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


RequestId = Annotated[str, Depends(get_request_id)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200,
           description="retrying with the same key returns the first answer and records nothing twice"),
]
TopicId = Annotated[str, Path(min_length=1, max_length=64, description="topic id, e.g. T-3F2A9C01B7D4")]


async def get_topic_access(services: ServicesDep) -> TopicAccess:
    return TopicAccess(services.topics, services.gateway)


Access = Annotated[TopicAccess, Depends(get_topic_access)]


async def get_topic_commands(services: ServicesDep, access: Access, actor: CurrentActor, request_id: RequestId,
                             idempotency_key: IdempotencyKey = None) -> TopicCommands:
    return TopicCommands(services.gateway, access, KnownOrgs(services.orgs), actor, idempotency_key, request_id,
                         services.context.timezone)


Commands = Annotated[TopicCommands, Depends(get_topic_commands)]


def require_role(actor: Actor, action: str, *roles: str) -> None:
    if actor.role not in roles:
        allowed = ", ".join(f"{r} ({ROLE_LABELS[r]})" for r in roles)
        raise ApiError(403, "role.not_allowed", f"{action} needs the role {allowed}; your token has role {actor.role}",
                       role=actor.role, allowed_roles=list(roles))


def require_within(actor: Actor, org: str, action: str) -> None:
    if not contains(actor.org, org):
        raise ApiError(403, "org.out_of_scope",
                       f"{action} concerns {org}, outside your organisation {actor.org}; "
                       f"only users of {org} or of a unit above it may do this", org=org, actor_org=actor.org)
