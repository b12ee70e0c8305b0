"""破题: the claiming branch files a plan with milestones, works it, and reports progress."""

from __future__ import annotations

from domain import events as ev
from domain.commands import Context, DecideMilestone, DecidePlan, ReportProgress, SubmitMilestoneCompletion, SubmitPlan
from domain.control import resolve_deadline
from domain.rewards import milestone_reward
from domain.errors import IllegalTransition, InvalidCommand, UnknownItem
from domain.rules import claimant_org, require_role, require_scope, require_status
from domain.state import Milestone, Plan, ProgressReport, TopicState


def _branch_action(state: TopicState, ctx: Context, action: str, *statuses: str) -> None:
    require_role(ctx, action, "branch")
    require_status(state, action, *statuses)
    require_scope(ctx, claimant_org(state), action)


def submit_plan(state: TopicState, cmd: SubmitPlan, ctx: Context) -> list[ev.Event]:
    _branch_action(state, ctx, "submit the plan", "claimed")
    keys = [m.key for m in cmd.milestones]
    if len(set(keys)) != len(keys):
        raise InvalidCommand("plan.milestone_key_duplicate", "milestone keys must be unique within a plan",
                             field="milestones", keys=keys)
    for m in cmd.milestones:
        if m.due_date < ctx.today or (state.due_date and m.due_date > state.due_date):
            raise InvalidCommand(
                "plan.milestone_due_date",
                f"milestone {m.key} is due {m.due_date}; it must fall between today ({ctx.today}) "
                f"and the topic's due date ({state.due_date})",
                field="milestones", key=m.key,
            )
    return [ev.PlanSubmitted(summary=cmd.summary, milestones=cmd.milestones)]


def decide_plan(state: TopicState, cmd: DecidePlan, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "approving a plan", "manager")
    require_scope(ctx, state.org, "approving a plan")
    require_status(state, "decide on the plan", "plan_submitted")
    if cmd.decision == "approve":
        return [ev.PlanApproved(comment=cmd.comment)]
    return [ev.PlanReturned(comment=cmd.comment)]


def _milestone(state: TopicState, key: str) -> Milestone:
    found = state.milestone(key)
    if found is None:
        raise UnknownItem("milestone.unknown", f"topic {state.topic_id} has no milestone {key!r}; "
                          f"its milestones are {[m.key for m in state.milestones]}", key=key)
    return found


def submit_milestone(state: TopicState, cmd: SubmitMilestoneCompletion, ctx: Context) -> list[ev.Event]:
    _branch_action(state, ctx, "report a milestone complete", "in_progress")
    if _milestone(state, cmd.key).status != "pending":
        raise IllegalTransition("milestone.not_pending",
                                f"milestone {cmd.key} is {state.milestone(cmd.key).status}; only a pending or "
                                "returned milestone can be reported complete", key=cmd.key)
    return [ev.MilestoneCompletionSubmitted(key=cmd.key, evidence=cmd.evidence)]


def decide_milestone(state: TopicState, cmd: DecideMilestone, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "approving a milestone", "manager")
    require_scope(ctx, state.org, "approving a milestone")
    require_status(state, "decide on a milestone", "in_progress")
    if _milestone(state, cmd.key).status != "submitted":
        raise IllegalTransition("milestone.not_submitted",
                                f"milestone {cmd.key} is {state.milestone(cmd.key).status}; the branch must report "
                                "it complete before it can be decided", key=cmd.key)
    if cmd.decision == "approve":
        return [ev.MilestoneApproved(key=cmd.key, comment=cmd.comment), *milestone_reward(state, _milestone(state, cmd.key))]
    return [ev.MilestoneReturned(key=cmd.key, comment=cmd.comment)]


def report_progress(state: TopicState, cmd: ReportProgress, ctx: Context) -> list[ev.Event]:
    _branch_action(state, ctx, "report progress", "in_progress")
    return [ev.ProgressReported(progress_pct=cmd.progress_pct, summary=cmd.summary)]


def on_plan_submitted(state: TopicState, e: ev.PlanSubmitted) -> TopicState:
    milestones = tuple(Milestone(key=m.key, title=m.title, due_date=m.due_date, reward=m.reward) for m in e.milestones)
    return state.model_copy(update={"status": "plan_submitted", "milestones": milestones,
                                    "plan": Plan(summary=e.summary, status="submitted")})


def _plan_decided(state: TopicState, status: str, plan_status: str, comment: str) -> TopicState:
    assert state.plan is not None
    plan = state.plan.model_copy(update={"status": plan_status, "comment": comment})
    return state.model_copy(update={"status": status, "plan": plan})


def on_plan_approved(state: TopicState, e: ev.PlanApproved) -> TopicState:
    return _plan_decided(state, "in_progress", "approved", e.comment)


def on_plan_returned(state: TopicState, e: ev.PlanReturned) -> TopicState:
    return _plan_decided(state, "claimed", "returned", e.comment)


def _update_milestone(state: TopicState, key: str, **changes: str) -> TopicState:
    milestones = tuple(m.model_copy(update=changes) if m.key == key else m for m in state.milestones)
    return state.model_copy(update={"milestones": milestones})


def on_milestone_submitted(state: TopicState, e: ev.MilestoneCompletionSubmitted) -> TopicState:
    reported = _update_milestone(state, e.key, status="submitted", evidence=e.evidence)
    return resolve_deadline(reported, "milestone", e.key)


def on_milestone_approved(state: TopicState, e: ev.MilestoneApproved) -> TopicState:
    return _update_milestone(state, e.key, status="approved", comment=e.comment)


def on_milestone_returned(state: TopicState, e: ev.MilestoneReturned) -> TopicState:
    return _update_milestone(state, e.key, status="pending", comment=e.comment)


def on_progress(state: TopicState, e: ev.ProgressReported) -> TopicState:
    return state.model_copy(update={"reports": (*state.reports, ProgressReport(**dict(e)))})
