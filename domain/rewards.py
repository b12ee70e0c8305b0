"""Rewards: the conclusion incentive (结题激励) scaled by the final score's tier, milestone rewards (破题奖励),
and the record of each payout. A reward is keyed per topic and reason, so it can be released only once."""

from __future__ import annotations

from domain import events as ev
from domain.commands import Context, RecordRewardOutcome, RetryRewardRelease
from domain.errors import IllegalTransition, UnknownItem
from domain.rules import claimant_org, require_role, require_scope
from domain.state import Milestone, RewardEntry, TopicState


def conclusion_reward(state: TopicState, share: float) -> list[ev.Event]:
    if state.reward is None or share <= 0 or state.reward.amount <= 0:
        return []
    return [ev.RewardGranted(key="conclusion", reason="结题激励", amount=round(state.reward.amount * share, 2),
                             unit=state.reward.unit, org=claimant_org(state))]


def milestone_reward(state: TopicState, milestone: Milestone) -> list[ev.Event]:
    if milestone.reward is None or milestone.reward.amount <= 0:
        return []
    return [ev.RewardGranted(key=f"milestone:{milestone.key}", reason=f"破题奖励 {milestone.title}",
                             amount=milestone.reward.amount, unit=milestone.reward.unit, org=claimant_org(state))]


def _entry(state: TopicState, key: str) -> RewardEntry:
    entry = state.reward_entry(key)
    if entry is None:
        raise UnknownItem("reward.unknown", f"topic {state.topic_id} has no reward {key!r}; "
                          f"its rewards are {[r.key for r in state.rewards]}", key=key)
    return entry


def record_outcome(state: TopicState, cmd: RecordRewardOutcome, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "recording a payout", "system")
    if _entry(state, cmd.key).status != "granted":
        return []
    if cmd.released:
        return [ev.RewardReleased(key=cmd.key, reference=cmd.reference)]
    return [ev.RewardReleaseFailed(key=cmd.key, error=cmd.error)]


def retry_release(state: TopicState, cmd: RetryRewardRelease, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "retrying a reward release", "manager")
    require_scope(ctx, state.org, "retrying a reward release")
    entry = _entry(state, cmd.key)
    if entry.status != "failed":
        raise IllegalTransition("reward.not_failed", f"reward {cmd.key} is {entry.status}; only a failed release "
                                "can be retried", key=cmd.key, status=entry.status)
    return [ev.RewardRetryRequested(key=cmd.key)]


def pending_releases(state: TopicState) -> list[RewardEntry]:
    """Rewards granted and not yet paid out or refused: the workflow's release activity owes these."""
    return [r for r in state.rewards if r.status == "granted"]


def _update(state: TopicState, key: str, **changes: object) -> TopicState:
    rewards = tuple(r.model_copy(update=changes) if r.key == key else r for r in state.rewards)
    return state.model_copy(update={"rewards": rewards})


def on_granted(state: TopicState, e: ev.RewardGranted) -> TopicState:
    entry = RewardEntry(key=e.key, reason=e.reason, amount=e.amount, unit=e.unit, org=e.org)
    return state.model_copy(update={"rewards": (*state.rewards, entry)})


def on_released(state: TopicState, e: ev.RewardReleased) -> TopicState:
    return _update(state, e.key, status="released", reference=e.reference, error="")


def on_failed(state: TopicState, e: ev.RewardReleaseFailed) -> TopicState:
    return _update(state, e.key, status="failed", error=e.error)


def on_retry(state: TopicState, e: ev.RewardRetryRequested) -> TopicState:
    return _update(state, e.key, status="granted")
