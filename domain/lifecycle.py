"""The topic lifecycle as one decider: `decide(state, command, ctx) -> events`, `evolve(state, event) -> state`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from domain import breaking, claiming, concluding, control, evaluation, rewards, setting
from domain import commands as cmd
from domain import events as ev
from domain.state import TopicState, initial_state

_DECIDERS: dict[type[cmd.Command], Callable[[TopicState, Any, cmd.Context], list[ev.Event]]] = {
    cmd.ProposeTopic: setting.propose,
    cmd.ReviseProposal: setting.revise,
    cmd.ReviewProposal: setting.review,
    cmd.PublishTopic: setting.publish,
    cmd.ClaimTopic: claiming.claim,
    cmd.DecideClaim: claiming.decide_claim,
    cmd.SubmitPlan: breaking.submit_plan,
    cmd.DecidePlan: breaking.decide_plan,
    cmd.SubmitMilestoneCompletion: breaking.submit_milestone,
    cmd.DecideMilestone: breaking.decide_milestone,
    cmd.ReportProgress: breaking.report_progress,
    cmd.SubmitConclusion: concluding.submit_conclusion,
    cmd.DecideConclusion: evaluation.decide_conclusion,
    cmd.WithdrawTopic: concluding.withdraw,
    cmd.OpenCheckpoint: control.open_checkpoint,
    cmd.FileCheckpointReport: control.file_report,
    cmd.AssessCheckpoint: control.assess,
    cmd.MarkCheckpointMissed: control.mark_missed,
    cmd.MarkDeadlineMissed: control.mark_deadline_missed,
    cmd.Escalate: control.escalate,
    cmd.SubmitEvaluation: evaluation.submit_evaluation,
    cmd.RaiseObjection: evaluation.raise_objection,
    cmd.CompletePosting: evaluation.complete_posting,
    cmd.RecordRewardOutcome: rewards.record_outcome,
    cmd.RetryRewardRelease: rewards.retry_release,
}

_EVOLVERS: dict[type[ev.Event], Callable[[TopicState, Any], TopicState]] = {
    ev.TopicProposed: setting.on_proposed,
    ev.ProposalRevised: setting.on_revised,
    ev.ProposalApproved: setting.on_approved,
    ev.ProposalReturned: setting.on_returned,
    ev.TopicPublished: setting.on_published,
    ev.TopicClaimed: claiming.on_claimed,
    ev.ClaimConfirmed: claiming.on_confirmed,
    ev.ClaimRejected: claiming.on_rejected,
    ev.PlanSubmitted: breaking.on_plan_submitted,
    ev.PlanApproved: breaking.on_plan_approved,
    ev.PlanReturned: breaking.on_plan_returned,
    ev.MilestoneCompletionSubmitted: breaking.on_milestone_submitted,
    ev.MilestoneApproved: breaking.on_milestone_approved,
    ev.MilestoneReturned: breaking.on_milestone_returned,
    ev.ProgressReported: breaking.on_progress,
    ev.ConclusionSubmitted: concluding.on_conclusion_submitted,
    ev.ConclusionApproved: concluding.on_conclusion_approved,
    ev.ConclusionRejected: concluding.on_conclusion_rejected,
    ev.TopicWithdrawn: concluding.on_withdrawn,
    ev.CheckpointOpened: control.on_checkpoint_opened,
    ev.CheckpointReported: control.on_checkpoint_reported,
    ev.CheckpointAssessed: control.on_checkpoint_assessed,
    ev.CheckpointMissed: control.on_checkpoint_missed,
    ev.ReminderInterviewRequired: control.on_reminder,
    ev.DeadlineMissed: control.on_deadline_missed,
    ev.Escalated: control.on_escalated,
    ev.EvaluationSubmitted: evaluation.on_evaluated,
    ev.ConclusionEndorsed: evaluation.on_endorsed,
    ev.ObjectionRaised: evaluation.on_objection,
    ev.PostingCompleted: evaluation.on_posting_completed,
    ev.RewardGranted: rewards.on_granted,
    ev.RewardReleased: rewards.on_released,
    ev.RewardReleaseFailed: rewards.on_failed,
    ev.RewardRetryRequested: rewards.on_retry,
}


def decide(state: TopicState, command: cmd.Command, ctx: cmd.Context) -> list[ev.Event]:
    """The events a command produces, or a DomainError naming the broken rule. Pure."""
    return _DECIDERS[type(command)](state, command, ctx)


def evolve(state: TopicState, event: ev.Event) -> TopicState:
    """The state after one event. Pure; every event bumps the stream version."""
    evolved = _EVOLVERS[type(event)](state, event)
    return evolved.model_copy(update={"version": state.version + 1})


def fold(events: Iterable[ev.Event], state: TopicState = initial_state) -> TopicState:
    for event in events:
        state = evolve(state, event)
    return state
