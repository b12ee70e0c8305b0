"""点题: a topic is proposed, reviewed by the leader in charge (分管领导审核), confirmed by the party committee (党委确定)."""

from __future__ import annotations

from domain import events as ev
from domain.commands import Context, ProposalContent, ProposeTopic, PublishTopic, ReviewProposal, ReviseProposal
from domain.errors import IllegalTransition, InvalidCommand, NotPermitted
from domain.orgs import is_valid_path
from domain.rules import require_role, require_scope, require_status
from domain.state import TopicState

PROPOSER_ROLES = ("branch", "manager", "committee")


def _check_content(content: ProposalContent, ctx: Context) -> None:
    if content.due_date < ctx.today:
        raise InvalidCommand(
            "topic.due_date_past",
            f"due_date {content.due_date} is in the past (today is {ctx.today}); choose a later date",
            field="due_date",
        )
    names = [i.name for i in content.indicators]
    if len(set(names)) != len(names):
        raise InvalidCommand("topic.indicator_duplicate", "indicator names must be unique within a topic",
                             field="indicators", names=names)


def _content(content: ProposalContent) -> dict:
    return content.model_dump(include={"title", "description", "category", "indicators", "due_date", "reward"})


def propose(state: TopicState, cmd: ProposeTopic, ctx: Context) -> list[ev.Event]:
    if state.status != "none":
        raise IllegalTransition("topic.exists", f"topic {cmd.topic_id} already exists; propose it under a new id")
    require_role(ctx, "proposing a topic", *PROPOSER_ROLES)
    if not is_valid_path(cmd.org):
        raise InvalidCommand("org.invalid_path", f"org {cmd.org!r} is not a path like HQ/SX/TY", field="org")
    require_scope(ctx, cmd.org, "proposing a topic")
    _check_content(cmd, ctx)
    return [ev.TopicProposed(topic_id=cmd.topic_id, org=cmd.org, proposer=ctx.actor.sub, **_content(cmd))]


def revise(state: TopicState, cmd: ReviseProposal, ctx: Context) -> list[ev.Event]:
    require_status(state, "revise the proposal", "proposed", "returned")
    if ctx.actor.sub != state.proposer:
        raise NotPermitted("topic.not_proposer", f"only the proposer ({state.proposer}) may revise the proposal")
    _check_content(cmd, ctx)
    return [ev.ProposalRevised(**_content(cmd))]


def review(state: TopicState, cmd: ReviewProposal, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "reviewing a proposal", "manager")
    require_scope(ctx, state.org, "reviewing a proposal")
    require_status(state, "review the proposal", "proposed")
    if cmd.decision == "approve":
        return [ev.ProposalApproved(comment=cmd.comment)]
    return [ev.ProposalReturned(comment=cmd.comment)]


def publish(state: TopicState, cmd: PublishTopic, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "publishing a topic", "committee")
    require_scope(ctx, state.org, "publishing a topic")
    require_status(state, "publish the topic", "reviewed")
    return [ev.TopicPublished(comment=cmd.comment)]


def on_proposed(state: TopicState, e: ev.TopicProposed) -> TopicState:
    return state.model_copy(update={**dict(e), "status": "proposed"})


def on_revised(state: TopicState, e: ev.ProposalRevised) -> TopicState:
    return state.model_copy(update={**dict(e), "status": "proposed"})


def on_approved(state: TopicState, e: ev.ProposalApproved) -> TopicState:
    return state.model_copy(update={"status": "reviewed", "review_comment": e.comment})


def on_returned(state: TopicState, e: ev.ProposalReturned) -> TopicState:
    return state.model_copy(update={"status": "returned", "review_comment": e.comment})


def on_published(state: TopicState, e: ev.TopicPublished) -> TopicState:
    return state.model_copy(update={"status": "open"})
