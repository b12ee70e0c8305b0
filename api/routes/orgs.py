"""The organisation tree: admins register units; everyone lists the units of their subtree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentActor, Orgs, require_role, require_within
from api.schemas.errors import error_responses
from api.schemas.orgs import OrgCreate, OrgList, OrgPublic
from projections.orgs import OrgExists

router = APIRouter(prefix="/v1/orgs", tags=["orgs"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrgPublic,
             responses=error_responses(401, 403, 409, 422))
async def create_org(body: OrgCreate, orgs: Orgs, actor: CurrentActor) -> OrgPublic:
    """Admin: register a unit under your subtree. Sending the same unit again answers the same; the same path
    with another name or kind is a 409."""
    require_role(actor, "registering an organisation unit", "admin")
    require_within(actor, body.path, "registering an organisation unit")
    try:
        return OrgPublic.model_validate(await orgs.create_org(body.path, body.name, body.kind))
    except OrgExists:
        existing = await orgs.get_org(body.path)
    if existing is None or (existing["name"], existing["kind"]) != (body.name, body.kind):
        raise OrgExists(
            "org.exists",
            f"org {body.path} is already registered as {existing['name']!r} ({existing['kind']}); "
            "a registered path keeps its name and kind: choose another path" if existing else
            f"org {body.path} is already registered; choose another path",
            path=body.path, existing={k: existing[k] for k in ("name", "kind")} if existing else None,
        )
    return OrgPublic.model_validate(existing)


@router.get("", response_model=OrgList, responses=error_responses(401, 403))
async def list_orgs(
    orgs: Orgs, actor: CurrentActor,
    under: Annotated[str | None, Query(description="a unit path; defaults to yours")] = None,
) -> OrgList:
    """The unit `under` (default: yours) and every unit below it, in path order."""
    root = under or actor.org
    require_within(actor, root, "listing organisation units")
    return OrgList(items=[OrgPublic.model_validate(r) for r in await orgs.list_orgs(root)])
