"""结题: the branch submits results against the indicators (evaluation and posting: evaluation.py); or the committee withdraws."""

from __future__ import annotations

from domain import events as ev
from domain.commands import Context, SubmitConclusion, WithdrawTopic
from domain.control import resolve_deadline
from domain.errors import IllegalTransition, InvalidCommand
from domain.rules import claimant_org, require_role, require_scope, require_status
from domain.state import ACTIVE, Conclusion, TopicState


def submit_conclusion(state: TopicState, cmd: SubmitConclusion, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "submitting the conclusion", "branch")
    require_status(state, "submit the conclusion", "in_progress")
    require_scope(ctx, claimant_org(state), "submitting the conclusion")
    open_keys = [m.key for m in state.milestones if m.status != "approved"]
    if open_keys:
        raise IllegalTransition("conclusion.milestones_open",
                                f"milestones {open_keys} are not approved yet; conclude after every milestone is approved",
                                open_milestones=open_keys)
    expected = sorted(i.name for i in state.indicators)
    given = [r.indicator for r in cmd.results]
    if sorted(given) != expected:
        raise InvalidCommand("conclusion.results_mismatch",
                             f"results must give one actual value for each indicator {expected}; got {given}",
                             field="results", indicators=expected)
    return [ev.ConclusionSubmitted(summary=cmd.summary, results=cmd.results)]


def withdraw(state: TopicState, cmd: WithdrawTopic, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "withdrawing a topic", "committee")
    require_scope(ctx, state.org, "withdrawing a topic")
    if state.status in ("concluded", "withdrawn"):
        raise IllegalTransition("state.not_allowed", f"cannot withdraw: topic {state.topic_id} is already "
                                f"{state.status} ({state.label}); only an active topic can be withdrawn",
                                state=state.status, allowed_states=sorted(ACTIVE))
    require_status(state, "withdraw the topic", *sorted(ACTIVE))
    return [ev.TopicWithdrawn(reason=cmd.reason, previous_state=state.status)]


def on_conclusion_submitted(state: TopicState, e: ev.ConclusionSubmitted) -> TopicState:
    conclusion = Conclusion(summary=e.summary, results=e.results, status="submitted")
    submitted = state.model_copy(update={"status": "concluding", "conclusion": conclusion})
    return resolve_deadline(submitted, "topic", "topic")


def _conclusion_decided(state: TopicState, status: str, verdict: str, comment: str) -> TopicState:
    assert state.conclusion is not None
    conclusion = state.conclusion.model_copy(update={"status": verdict, "comment": comment})
    return state.model_copy(update={"status": status, "conclusion": conclusion})


def on_conclusion_approved(state: TopicState, e: ev.ConclusionApproved) -> TopicState:
    """Logs written before 四方评价 and 公示 existed: approval concluded the topic at once."""
    return _conclusion_decided(state, "concluded", "approved", e.comment)


def on_conclusion_rejected(state: TopicState, e: ev.ConclusionRejected) -> TopicState:
    rejected = _conclusion_decided(state, "in_progress", "rejected", e.comment)
    return rejected.model_copy(update={"evaluations": (), "final_score": None})  # a new conclusion is evaluated anew


def on_withdrawn(state: TopicState, e: ev.TopicWithdrawn) -> TopicState:
    return state.model_copy(update={"status": "withdrawn", "withdrawal_reason": e.reason})
