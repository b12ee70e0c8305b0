"""Random command sequences through the decider: never an invalid state, and folding the events reproduces it."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import Actor, Context, DomainError, decide, evolve, fold, initial_state
from domain.actors import SYSTEM
from domain.policy import ControlPolicy
from domain import commands as c
from domain.state import STATE_LABELS, TERMINAL, TopicState

NOW = dt.datetime(2026, 3, 1, 4, tzinfo=dt.timezone.utc)
TODAY = dt.date(2026, 3, 1)

ACTORS = [
    Actor(sub="p", role="branch", org="HQ/SX"),
    Actor(sub="m", role="manager", org="HQ/SX"),
    Actor(sub="m2", role="manager", org="HQ/BJ"),
    Actor(sub="cm", role="committee", org="HQ"),
    Actor(sub="bz", role="business", org="HQ/SX"),
    Actor(sub="b1", role="branch", org="HQ/SX/TY/B1"),
    Actor(sub="b2", role="branch", org="HQ/SX/TY/B2"),
    Actor(sub="au", role="auditor", org="HQ"),
    SYSTEM,
]

INDICATOR = {"name": "准时率", "target": 98.5, "unit": "%"}
CONTENT = dict(title="t", category="服务质量", indicators=[INDICATOR], due_date=TODAY + dt.timedelta(days=200),
               reward={"amount": 5000, "unit": "CNY"})

ALL_COMMANDS = [
    c.ProposeTopic(topic_id="T1", org="HQ/SX", **CONTENT), c.ReviseProposal(**CONTENT),
    c.ReviewProposal(decision="approve"), c.ReviewProposal(decision="return"), c.PublishTopic(),
    c.ClaimTopic(org="HQ/SX/TY/B1"), c.ClaimTopic(org="HQ/SX/TY/B2"), c.ClaimTopic(org="HQ/BJ/X"),
    *[c.DecideClaim(claim_id=i, decision=d) for i in ("C1", "C2", "C3") for d in ("confirm", "reject")],
    c.SubmitPlan(summary="s", milestones=[
        {"key": "m1", "title": "a", "due_date": TODAY + dt.timedelta(days=30)},
        {"key": "m2", "title": "b", "due_date": TODAY + dt.timedelta(days=90)}]),
    c.DecidePlan(decision="approve"), c.DecidePlan(decision="return"),
    *[c.SubmitMilestoneCompletion(key=k, evidence="e") for k in ("m1", "m2", "m9")],
    *[c.DecideMilestone(key=k, decision=d) for k in ("m1", "m2") for d in ("approve", "approve", "return")],
    c.ReportProgress(progress_pct=50, summary="s"),
    c.SubmitConclusion(summary="s", results=[{"indicator": "准时率", "actual": 99}]),
    c.DecideConclusion(decision="approve"), c.DecideConclusion(decision="reject"),
    c.WithdrawTopic(reason="r"),
    *[c.OpenCheckpoint(quarter=q) for q in ("2026Q1", "2026Q2")],
    c.FileCheckpointReport(quarter="2026Q1", progress_pct=30, summary="s"),
    c.AssessCheckpoint(quarter="2026Q1", score=80, rating="on_track"),
    *[c.MarkCheckpointMissed(quarter=q) for q in ("2026Q1", "2026Q2")],
    c.MarkDeadlineMissed(kind="milestone", key="m1"), c.MarkDeadlineMissed(kind="topic", key="topic"),
    c.Escalate(kind="milestone", key="m1"), c.Escalate(kind="topic", key="topic"),
    *[c.SubmitEvaluation(party=p, score=s) for p in ("grassroots", "self", "peer", "leader") for s in (95, 65)],
    c.RaiseObjection(reason="异议"), c.CompletePosting(),
    c.RecordRewardOutcome(key="conclusion", released=True, reference="r"),
    c.RecordRewardOutcome(key="conclusion", released=False, error="refused"),
    c.RetryRewardRelease(key="conclusion"),
]
# After 结题 the topic still settles its rewards; nothing else.
SETTLING = (c.RecordRewardOutcome, c.RetryRewardRelease)
# Commands that may legitimately record nothing: repeating them changes nothing (idempotent by design).
IDEMPOTENT = (c.OpenCheckpoint, c.MarkCheckpointMissed, c.MarkDeadlineMissed, c.Escalate, c.RecordRewardOutcome)
POLICY = ControlPolicy(posting_period=dt.timedelta(0))  # 公示 ends at once, so 已结题 is reachable
ALL_MOVES = [(command, actor) for command in ALL_COMMANDS for actor in ACTORS]


def accepted(state: TopicState, move: tuple[c.Command, Actor]) -> bool:
    try:
        decide(state, move[0], Context(actor=move[1], now=NOW, policy=POLICY))
        return True
    except DomainError:
        return False


ORDER = ["none", "returned", "proposed", "reviewed", "open", "claim_pending", "claimed", "plan_submitted",
         "in_progress", "concluding", "posting", "concluded", "withdrawn"]


def progress(state: TopicState) -> tuple[int, int, int]:
    """How far along the way to 结题 a topic is: its state, then approved milestones, then evaluations in."""
    return (ORDER.index(state.status), sum(m.status == "approved" for m in state.milestones), len(state.evaluations))


def advances(state: TopicState, move: tuple[c.Command, Actor]) -> bool:
    """The move brings the topic nearer 结题 (not sideways like reports, nor back like a rejection)."""
    after = fold(decide(state, move[0], Context(actor=move[1], now=NOW, policy=POLICY)), state)
    return progress(after) > progress(state)


def draw_steps(data, max_steps: int = 60) -> list[tuple[c.Command, Actor]]:
    """Mostly moves the state accepts (so runs go deep), sometimes a withdrawal or any move at all (so rejections are tried)."""
    state, steps = initial_state, []
    for _ in range(data.draw(st.integers(0, max_steps))):
        legal = [m for m in ALL_MOVES if accepted(state, m)]
        progress = [m for m in legal if not isinstance(m[0], c.WithdrawTopic)]
        advancing = [m for m in progress if advances(state, m)]
        roll = data.draw(st.integers(0, 19))
        if advancing and roll < 10:
            pool = advancing
        elif progress and roll < 17:
            pool = progress
        else:
            pool = legal if legal and roll < 18 else ALL_MOVES
        move = data.draw(st.sampled_from(pool))
        steps.append(move)
        if accepted(state, move):
            state = fold(decide(state, move[0], Context(actor=move[1], now=NOW, policy=POLICY)), state)
    return steps


def assert_valid(state: TopicState) -> None:
    assert state.status in STATE_LABELS
    if state.status in {"none", "proposed", "returned", "reviewed", "open"}:
        assert state.claim is None
    if state.status == "claim_pending":
        assert state.claim is not None and state.claim.status == "pending"
    if state.status in {"claimed", "plan_submitted", "in_progress", "concluding", "concluded"}:
        assert state.claim is not None and state.claim.status == "confirmed"
    if state.status in {"plan_submitted", "in_progress", "concluding", "concluded"}:
        assert state.plan is not None and state.milestones
    if state.status in {"concluding", "concluded"}:
        assert all(m.status == "approved" for m in state.milestones)
    assert (state.status == "concluded") == (state.conclusion is not None and state.conclusion.status == "approved")
    if state.status == "posting":
        assert len(state.evaluations) == 4 and state.final_score is not None and state.posting_ends_at is not None
    assert all(r.key == "conclusion" for r in state.rewards) and len(state.rewards) <= 1
    if state.rewards:
        assert state.status == "concluded" and state.rewards[0].amount == 5000 * POLICY.reward_share(state.final_score)
    if state.claim is not None:
        assert state.claim.org.startswith(state.org + "/") or state.claim.org == state.org
    if state.checkpoints or state.deadlines:
        assert state.claim is not None and state.claim.status == "confirmed"
    assert all(0 <= d.level <= 2 for d in state.deadlines)
    assert len({cp.quarter for cp in state.checkpoints}) == len(state.checkpoints)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_no_command_sequence_reaches_an_invalid_state(data):
    steps = draw_steps(data)
    state, recorded = initial_state, []
    for command, actor in steps:
        before = state
        try:
            events = decide(state, command, Context(actor=actor, now=NOW, policy=POLICY))
        except DomainError:
            assert state is before
            continue
        assert events or isinstance(command, IDEMPOTENT), "an accepted command records something"
        assert before.status not in TERMINAL or isinstance(command, SETTLING), "a closed topic only settles rewards"
        for event in events:
            state = evolve(state, event)
        recorded.extend(events)
        assert_valid(state)
    assert state.version == len(recorded)
    assert fold(recorded) == state


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_events_survive_serialisation(data):
    steps = draw_steps(data)
    """What the log stores (JSON) folds back to the same state."""
    from domain import event_from_data

    state, recorded = initial_state, []
    for command, actor in steps:
        try:
            events = decide(state, command, Context(actor=actor, now=NOW, policy=POLICY))
        except DomainError:
            continue
        for event in events:
            state = evolve(state, event)
            recorded.append((event.event_type, event.to_data()))
    assert fold(event_from_data(t, d) for t, d in recorded) == state
