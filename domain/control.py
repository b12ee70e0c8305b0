"""季度管控 and 分级督办: quarterly checkpoints, missed deadlines and escalation, reminder interviews."""

from __future__ import annotations

from domain import events as ev
from domain.calendar import end_of_day, next_quarter, quarter_end
from domain.commands import (
    AssessCheckpoint, Context, Escalate, FileCheckpointReport, MarkCheckpointMissed, MarkDeadlineMissed, OpenCheckpoint,
)
from domain.errors import IllegalTransition, UnknownItem
from domain.orgs import parent_of
from domain.rules import claimant_org, require_role, require_scope, require_status
from domain.state import CONTROLLED, Checkpoint, Deadline, TopicState


def open_checkpoint(state: TopicState, cmd: OpenCheckpoint, ctx: Context) -> list[ev.Event]:
    """Idempotent: a quarter's checkpoint opens once, whether by the schedule or a control meeting."""
    require_role(ctx, "opening a checkpoint", "manager", "system")
    require_scope(ctx, state.org, "opening a checkpoint")
    require_status(state, "open a checkpoint", *sorted(CONTROLLED))
    if state.checkpoint(cmd.quarter) is not None:
        return []
    due = cmd.report_due or quarter_end(cmd.quarter, ctx.timezone) + ctx.policy.report_window
    convened_by = "schedule" if ctx.actor.role == "system" else ctx.actor.sub
    return [ev.CheckpointOpened(quarter=cmd.quarter, report_due=due, convened_by=convened_by)]


def _checkpoint(state: TopicState, quarter: str) -> Checkpoint:
    found = state.checkpoint(quarter)
    if found is None:
        raise UnknownItem("checkpoint.unknown", f"topic {state.topic_id} has no checkpoint for {quarter}; "
                          f"open checkpoints: {[c.quarter for c in state.checkpoints if c.status == 'open']}",
                          quarter=quarter)
    return found


def file_report(state: TopicState, cmd: FileCheckpointReport, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "filing a quarterly report", "branch")
    require_status(state, "file a quarterly report", *sorted(CONTROLLED))
    require_scope(ctx, claimant_org(state), "filing a quarterly report")
    checkpoint = _checkpoint(state, cmd.quarter)
    if checkpoint.status != "open":
        raise IllegalTransition("checkpoint.not_open", f"the {cmd.quarter} checkpoint is {checkpoint.status}; "
                                f"reports are accepted until {checkpoint.report_due.isoformat()} while it is open",
                                quarter=cmd.quarter, status=checkpoint.status)
    return [ev.CheckpointReported(quarter=cmd.quarter, progress_pct=cmd.progress_pct, summary=cmd.summary,
                                  indicators=cmd.indicators)]


def assess(state: TopicState, cmd: AssessCheckpoint, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "assessing a checkpoint", "manager")
    require_scope(ctx, state.org, "assessing a checkpoint")
    require_status(state, "assess a checkpoint", *sorted(CONTROLLED | {"concluding"}))
    checkpoint = _checkpoint(state, cmd.quarter)
    if checkpoint.status not in ("reported", "assessed"):
        raise IllegalTransition("checkpoint.not_reported", f"the {cmd.quarter} checkpoint is {checkpoint.status}; "
                                "only a reported checkpoint can be scored (a missed one scores 0)",
                                quarter=cmd.quarter, status=checkpoint.status)
    return [ev.CheckpointAssessed(quarter=cmd.quarter, score=cmd.score, rating=cmd.rating, comment=cmd.comment)]


def mark_missed(state: TopicState, cmd: MarkCheckpointMissed, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "marking a checkpoint missed", "system")
    require_status(state, "mark a checkpoint missed", *sorted(CONTROLLED))
    checkpoint = _checkpoint(state, cmd.quarter)
    if checkpoint.status != "open":
        return []
    events: list[ev.Event] = [ev.CheckpointMissed(quarter=cmd.quarter)]
    earlier = [c for c in state.checkpoints if c.quarter < cmd.quarter]
    if earlier and max(earlier, key=lambda c: c.quarter).status == "missed":
        previous = max(earlier, key=lambda c: c.quarter).quarter
        events.append(ev.ReminderInterviewRequired(quarters=(previous, cmd.quarter), org=claimant_org(state)))
    return events


def mark_deadline_missed(state: TopicState, cmd: MarkDeadlineMissed, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "recording a missed deadline", "system")
    require_status(state, "record a missed deadline", *sorted(CONTROLLED))
    if state.deadline(cmd.kind, cmd.key) is not None:
        return []
    due = state.due_date if cmd.kind == "topic" else getattr(state.milestone(cmd.key), "due_date", None)
    if due is None:
        raise UnknownItem("deadline.unknown", f"topic {state.topic_id} has no {cmd.kind} {cmd.key!r} with a due date")
    return [ev.DeadlineMissed(kind=cmd.kind, key=cmd.key, due_date=due, missed_at=end_of_day(due, ctx.timezone))]


def escalate(state: TopicState, cmd: Escalate, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "escalating an overdue item", "system")
    require_status(state, "escalate an overdue item", *sorted(CONTROLLED))
    deadline = state.deadline(cmd.kind, cmd.key)
    if deadline is None or deadline.resolved or deadline.level >= ctx.policy.escalation_levels:
        return []
    to_org = parent_of(deadline.escalated_to or claimant_org(state))
    if to_org is None:
        return []
    return [ev.Escalated(kind=cmd.kind, key=cmd.key, level=deadline.level + 1, to_org=to_org)]


def on_checkpoint_opened(state: TopicState, e: ev.CheckpointOpened) -> TopicState:
    checkpoints = tuple(sorted((*state.checkpoints, Checkpoint(quarter=e.quarter, report_due=e.report_due)),
                               key=lambda c: c.quarter))
    upcoming = state.next_checkpoint
    if not upcoming or e.quarter >= upcoming:
        upcoming = next_quarter(e.quarter)
    return state.model_copy(update={"checkpoints": checkpoints, "next_checkpoint": upcoming})


def _update_checkpoint(state: TopicState, quarter: str, **changes: object) -> TopicState:
    checkpoints = tuple(c.model_copy(update=changes) if c.quarter == quarter else c for c in state.checkpoints)
    return state.model_copy(update={"checkpoints": checkpoints})


def on_checkpoint_reported(state: TopicState, e: ev.CheckpointReported) -> TopicState:
    return _update_checkpoint(state, e.quarter, status="reported", progress_pct=e.progress_pct,
                              summary=e.summary, indicators=e.indicators)


def on_checkpoint_assessed(state: TopicState, e: ev.CheckpointAssessed) -> TopicState:
    return _update_checkpoint(state, e.quarter, status="assessed", score=e.score, rating=e.rating, comment=e.comment)


def on_checkpoint_missed(state: TopicState, e: ev.CheckpointMissed) -> TopicState:
    return _update_checkpoint(state, e.quarter, status="missed", score=0.0)


def on_reminder(state: TopicState, e: ev.ReminderInterviewRequired) -> TopicState:
    return state.model_copy(update={"reminder_interviews": state.reminder_interviews + 1})


def on_deadline_missed(state: TopicState, e: ev.DeadlineMissed) -> TopicState:
    deadline = Deadline(kind=e.kind, key=e.key, due_date=e.due_date, missed_at=e.missed_at)
    return state.model_copy(update={"deadlines": (*state.deadlines, deadline)})


def on_escalated(state: TopicState, e: ev.Escalated) -> TopicState:
    return resolve_deadline(state, e.kind, e.key, level=e.level, escalated_to=e.to_org, resolved=False)


def resolve_deadline(state: TopicState, kind: str, key: str, **changes: object) -> TopicState:
    """Update one deadline (by default: mark it resolved, as when the overdue work is finally reported)."""
    changes = changes or {"resolved": True}
    deadlines = tuple(d.model_copy(update=changes) if (d.kind, d.key) == (kind, key) else d for d in state.deadlines)
    return state.model_copy(update={"deadlines": deadlines})
