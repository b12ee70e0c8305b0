"""领题: a branch claims an open topic; the business department co-confirms it (双向沟通确认领题)."""

from __future__ import annotations

from domain import events as ev
from domain.calendar import quarter_of
from domain.commands import ClaimTopic, Context, DecideClaim
from domain.errors import IllegalTransition, InvalidCommand, NotPermitted, UnknownItem
from domain.orgs import contains, is_valid_path
from domain.rules import require_role, require_scope, require_status
from domain.state import Claim, TopicState


def claim(state: TopicState, cmd: ClaimTopic, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "claiming a topic", "branch")
    if not is_valid_path(cmd.org):
        raise InvalidCommand("org.invalid_path", f"org {cmd.org!r} is not a path like HQ/SX/TY/B017", field="org")
    require_scope(ctx, cmd.org, "claiming for a unit")
    if state.claim is not None:
        raise IllegalTransition(
            "claim.taken",
            f"topic {state.topic_id} is already claimed by {state.claim.org} ({state.claim.status}); "
            "a new claim is possible only if the business department rejects that one",
            claimed_by=state.claim.org, claim_status=state.claim.status,
        )
    require_status(state, "claim the topic", "open")
    if not contains(state.org, cmd.org):
        raise NotPermitted(
            "claim.outside_topic_org",
            f"topic {state.topic_id} belongs to {state.org}; only units within it may claim it, not {cmd.org}",
            topic_org=state.org, org=cmd.org,
        )
    claim_id = f"C{state.claims_filed + 1}"
    return [ev.TopicClaimed(claim_id=claim_id, org=cmd.org, note=cmd.note, claimant=ctx.actor.sub,
                            claimant_name=ctx.actor.name)]


def decide_claim(state: TopicState, cmd: DecideClaim, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "confirming a claim", "business")
    require_scope(ctx, state.org, "confirming a claim")
    require_status(state, "decide on a claim", "claim_pending")
    if state.claim is None or state.claim.claim_id != cmd.claim_id:
        pending = state.claim.claim_id if state.claim else None
        raise UnknownItem("claim.unknown", f"claim {cmd.claim_id} is not pending on this topic; the pending claim is {pending}",
                          claim_id=cmd.claim_id, pending_claim_id=pending)
    if cmd.decision == "confirm":
        # A topic claimed mid-quarter gets its first checkpoint at that quarter's end.
        return [ev.ClaimConfirmed(claim_id=cmd.claim_id, comment=cmd.comment, first_quarter=quarter_of(ctx.today))]
    return [ev.ClaimRejected(claim_id=cmd.claim_id, comment=cmd.comment)]


def on_claimed(state: TopicState, e: ev.TopicClaimed) -> TopicState:
    claim_ = Claim(claim_id=e.claim_id, org=e.org, note=e.note, claimant=e.claimant, status="pending")
    return state.model_copy(update={"status": "claim_pending", "claim": claim_, "claims_filed": state.claims_filed + 1})


def on_confirmed(state: TopicState, e: ev.ClaimConfirmed) -> TopicState:
    assert state.claim is not None
    claim_ = state.claim.model_copy(update={"status": "confirmed"})
    return state.model_copy(update={"status": "claimed", "claim": claim_, "next_checkpoint": e.first_quarter})


def on_rejected(state: TopicState, e: ev.ClaimRejected) -> TopicState:
    return state.model_copy(update={"status": "open", "claim": None})
