"""Guards shared by every phase: who may act, within which subtree, in which state."""

from __future__ import annotations

from domain.actors import ROLE_LABELS
from domain.commands import Context
from domain.errors import IllegalTransition, NotPermitted
from domain.orgs import contains
from domain.state import STATE_LABELS, TopicState


def require_role(ctx: Context, action: str, *roles: str) -> None:
    if ctx.actor.role not in roles:
        allowed = ", ".join(f"{r} ({ROLE_LABELS[r]})" for r in roles)
        raise NotPermitted(
            "role.not_allowed",
            f"{action} needs the role {allowed}; your token has role {ctx.actor.role}",
            role=ctx.actor.role, allowed_roles=list(roles),
        )


def require_scope(ctx: Context, org: str, action: str) -> None:
    if not contains(ctx.actor.org, org):
        raise NotPermitted(
            "org.out_of_scope",
            f"{action} concerns {org}, outside your organisation {ctx.actor.org}; "
            f"only users of {org} or of a unit above it may do this",
            org=org, actor_org=ctx.actor.org,
        )


def require_within(ctx: Context, org: str, action: str) -> None:
    """The actor's unit lies in `org`'s subtree, or above it: anyone of the owning unit may take part."""
    if not (contains(org, ctx.actor.org) or contains(ctx.actor.org, org)):
        raise NotPermitted(
            "org.outside_subtree",
            f"{action} is open to the units of {org}; your organisation {ctx.actor.org} is not one of them",
            org=org, actor_org=ctx.actor.org,
        )


def require_status(state: TopicState, action: str, *allowed: str) -> None:
    if state.status not in allowed:
        wanted = ", ".join(f"{s} ({STATE_LABELS[s]})" for s in allowed)
        raise IllegalTransition(
            "state.not_allowed",
            f"cannot {action}: topic {state.topic_id} is {state.status} ({state.label}); "
            f"this is allowed only when it is {wanted}",
            state=state.status, allowed_states=list(allowed),
        )


def claimant_org(state: TopicState) -> str:
    assert state.claim is not None, "a claimed topic always has a claim"
    return state.claim.org
