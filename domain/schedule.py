"""The calendar's side of the lifecycle: which system commands are due at an instant, and the next instant to look.

The workflow is a plain durable-timer loop around these two pure functions, so every date rule is tested here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from domain.calendar import end_of_day, quarter_end
from domain.commands import Command, CompletePosting, Escalate, MarkCheckpointMissed, MarkDeadlineMissed, OpenCheckpoint
from domain.policy import ControlPolicy
from domain.state import CONTROLLED, TopicState


def _agenda(state: TopicState, policy: ControlPolicy, timezone: str) -> Iterator[tuple[dt.datetime, Command]]:
    """Every time-driven command the state calls for, with the instant it becomes due."""
    if state.status == "posting" and state.posting_ends_at is not None:
        yield state.posting_ends_at, CompletePosting()
    if state.status not in CONTROLLED:
        return
    if state.next_checkpoint:
        yield quarter_end(state.next_checkpoint, timezone), OpenCheckpoint(quarter=state.next_checkpoint)
    for checkpoint in state.checkpoints:
        if checkpoint.status == "open":
            yield checkpoint.report_due, MarkCheckpointMissed(quarter=checkpoint.quarter)
    if state.due_date and state.deadline("topic", "topic") is None:
        yield end_of_day(state.due_date, timezone), MarkDeadlineMissed(kind="topic", key="topic")
    if state.status == "in_progress":
        for milestone in state.milestones:
            if milestone.status == "pending" and state.deadline("milestone", milestone.key) is None:
                yield end_of_day(milestone.due_date, timezone), MarkDeadlineMissed(kind="milestone", key=milestone.key)
    for deadline in state.deadlines:
        if not deadline.resolved and deadline.level < policy.escalation_levels:
            due = deadline.missed_at + policy.escalation_grace * (deadline.level + 1)
            yield due, Escalate(kind=deadline.kind, key=deadline.key)


def due_commands(state: TopicState, now: dt.datetime, policy: ControlPolicy, timezone: str) -> list[Command]:
    """What the calendar asks of this topic at `now`, earliest first."""
    return [command for due, command in sorted(_agenda(state, policy, timezone), key=lambda item: item[0])
            if due <= now]


def next_wakeup(state: TopicState, policy: ControlPolicy, timezone: str) -> dt.datetime | None:
    """The earliest instant at which something becomes due, or None when nothing ever will."""
    return min((due for due, _ in _agenda(state, policy, timezone)), default=None)
