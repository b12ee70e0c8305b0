"""The control calendar: checkpoints at quarter ends in Asia/Shanghai, missed reports, deadlines and escalation."""

from __future__ import annotations

import datetime as dt

from domain import Actor, Context, decide, fold, initial_state
from domain import commands as c
from domain.actors import SYSTEM
from domain.calendar import quarter_end
from domain.policy import DEFAULT_POLICY
from domain.schedule import due_commands, next_wakeup
from domain.state import TopicState
from tests import factories as f

TZ = "Asia/Shanghai"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CLAIMED_AT = dt.datetime(2027, 2, 10, 9, 30, tzinfo=SHANGHAI)


def claimed_in_february(milestone_due: dt.date = dt.date(2027, 5, 31)) -> TopicState:
    propose = f.propose("T-1").model_copy(update={"due_date": dt.date(2027, 12, 31)})
    plan = c.SubmitPlan(summary="PDCA", milestones=[{"key": "m1", "title": "摸底", "due_date": milestone_due}])
    steps = [(propose, f.proposer), *f.lifecycle("T-1")[1:5], (plan, f.branch), f.lifecycle("T-1")[6]]
    state = initial_state
    for command, actor in steps:
        state = fold(decide(state, command, Context(actor=actor, now=CLAIMED_AT)), state)
    return state


def run_until(state: TopicState, until: dt.datetime, on_the_way=None) -> tuple[TopicState, list[tuple[dt.datetime, str]]]:
    """Advance the calendar like the workflow does; `on_the_way(state, at)` may act as users in between."""
    log = []
    while (wake := next_wakeup(state, DEFAULT_POLICY, TZ)) is not None and wake <= until:
        for command in due_commands(state, wake, DEFAULT_POLICY, TZ):
            for event in decide(state, command, Context(actor=SYSTEM, now=wake)):
                state = fold([event], state)
                log.append((wake.astimezone(SHANGHAI), event.event_type))
        if on_the_way:
            state = on_the_way(state, wake)
    return state, log


def test_a_topic_claimed_in_february_gets_four_checkpoints_on_quarter_ends_in_shanghai():
    state, log = run_until(claimed_in_february(), dt.datetime(2028, 1, 2, tzinfo=SHANGHAI))
    opened = [at for at, kind in log if kind == "CheckpointOpened"]
    assert [at.isoformat() for at in opened] == [
        "2027-04-01T00:00:00+08:00", "2027-07-01T00:00:00+08:00",
        "2027-10-01T00:00:00+08:00", "2028-01-01T00:00:00+08:00"]
    assert [cp.quarter for cp in state.checkpoints] == ["2027Q1", "2027Q2", "2027Q3", "2027Q4"]


def test_an_unreported_checkpoint_is_missed_when_the_report_window_closes():
    state, log = run_until(claimed_in_february(), quarter_end("2027Q1", TZ) + dt.timedelta(days=16))
    assert ("CheckpointMissed" in [kind for _, kind in log])
    missed_at = next(at for at, kind in log if kind == "CheckpointMissed")
    assert missed_at.isoformat() == "2027-04-16T00:00:00+08:00"
    assert state.checkpoint("2027Q1").score == 0


def test_a_reported_and_scored_checkpoint_is_not_missed():
    def report_q1(state, at):
        if state.checkpoint("2027Q1") and state.checkpoint("2027Q1").status == "open":
            ctx = Context(actor=f.branch, now=at)
            state = fold(decide(state, c.FileCheckpointReport(quarter="2027Q1", progress_pct=40, summary="进展"), ctx), state)
            ctx = Context(actor=f.manager, now=at)
            state = fold(decide(state, c.AssessCheckpoint(quarter="2027Q1", score=88, rating="on_track"), ctx), state)
        return state

    state, log = run_until(claimed_in_february(dt.date(2027, 12, 1)), dt.datetime(2027, 8, 1, tzinfo=SHANGHAI), report_q1)
    assert (state.checkpoint("2027Q1").status, state.checkpoint("2027Q1").score) == ("assessed", 88)
    assert state.checkpoint("2027Q2").status == "missed"
    assert "ReminderInterviewRequired" not in [kind for _, kind in log]


def test_two_missed_checkpoints_in_a_row_require_a_reminder_interview():
    state, log = run_until(claimed_in_february(), dt.datetime(2027, 7, 20, tzinfo=SHANGHAI))
    assert [kind for _, kind in log].count("ReminderInterviewRequired") == 1
    assert state.reminder_interviews == 1


def test_a_missed_milestone_escalates_twice_one_level_each_grace_period():
    state, log = run_until(claimed_in_february(dt.date(2027, 3, 15)), dt.datetime(2027, 3, 31, tzinfo=SHANGHAI))
    timeline = [(at.isoformat(), kind) for at, kind in log]
    assert timeline == [
        ("2027-03-16T00:00:00+08:00", "DeadlineMissed"),
        ("2027-03-23T00:00:00+08:00", "Escalated"),
        ("2027-03-30T00:00:00+08:00", "Escalated"),
    ]
    deadline = state.deadline("milestone", "m1")
    assert (deadline.level, deadline.escalated_to) == (2, "HQ/SX")


def test_reporting_the_overdue_milestone_stops_escalation():
    def complete_after_miss(state, at):
        if state.deadline("milestone", "m1") and state.milestone("m1").status == "pending":
            command = c.SubmitMilestoneCompletion(key="m1", evidence="补交")
            state = fold(decide(state, command, Context(actor=f.branch, now=at)), state)
        return state

    state, log = run_until(claimed_in_february(dt.date(2027, 3, 15)), dt.datetime(2027, 3, 31, tzinfo=SHANGHAI),
                           complete_after_miss)
    assert [kind for _, kind in log] == ["DeadlineMissed"]
    assert state.deadline("milestone", "m1").resolved


def test_a_control_meeting_opens_the_current_quarter_once_and_the_schedule_does_not_reopen_it():
    state = claimed_in_february()
    meeting = c.OpenCheckpoint(quarter="2027Q1", report_due=dt.datetime(2027, 3, 20, tzinfo=SHANGHAI))
    ctx = Context(actor=f.manager, now=CLAIMED_AT)
    state = fold(decide(state, meeting, ctx), state)
    assert decide(state, meeting, ctx) == []  # repeated: nothing more recorded
    assert state.checkpoint("2027Q1").report_due.isoformat() == "2027-03-20T00:00:00+08:00"
    state, log = run_until(state, dt.datetime(2027, 4, 2, tzinfo=SHANGHAI))
    assert [kind for _, kind in log].count("CheckpointOpened") == 0
    assert state.next_checkpoint == "2027Q2"


def test_nothing_is_scheduled_for_a_concluded_or_withdrawn_topic():
    state = claimed_in_february()
    withdrawn = fold(decide(state, c.WithdrawTopic(reason="调整"), Context(actor=f.committee, now=CLAIMED_AT)), state)
    assert next_wakeup(withdrawn, DEFAULT_POLICY, TZ) is None


def test_users_cannot_issue_system_commands():
    state = claimed_in_february()
    for actor in (f.manager, f.branch, f.committee):
        try:
            decide(state, c.Escalate(kind="topic", key="topic"), Context(actor=actor, now=CLAIMED_AT))
        except Exception as error:  # noqa: BLE001
            assert getattr(error, "kind", "") == "forbidden"
        else:
            raise AssertionError(f"{actor.role} escalated by hand")


