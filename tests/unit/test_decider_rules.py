"""The lifecycle's rules, one behaviour per test."""

from __future__ import annotations

import datetime as dt

import pytest

from domain import Actor, Context, DomainError, decide, fold
from domain import commands as c
from domain.state import TopicState
from tests import factories as f

NOW = dt.datetime.now(dt.timezone.utc)


def ctx(actor: Actor) -> Context:
    return Context(actor=actor, now=NOW)


def state_after(steps: int, topic_id: str = "T-1") -> TopicState:
    state = TopicState()
    for command, actor in f.lifecycle(topic_id)[:steps]:
        state = fold(decide(state, command, ctx(actor)), state)
    return state


def rejected(state: TopicState, command: c.Command, actor: Actor) -> DomainError:
    with pytest.raises(DomainError) as raised:
        decide(state, command, ctx(actor))
    return raised.value


def test_walks_the_whole_lifecycle_to_concluded():
    state = state_after(12)
    assert (state.status, state.label, state.version) == ("concluded", "已结题", 12)


def test_claiming_a_topic_that_is_not_open_names_the_state():
    error = rejected(state_after(1), c.ClaimTopic(org=f.BRANCH), f.branch)
    assert error.kind == "conflict" and "proposed (待审核)" in error.message and "open (待认领)" in error.message


def test_a_second_claim_names_the_first_claimant():
    error = rejected(state_after(4), c.ClaimTopic(org="HQ/SX/TY/B018"), f.other_branch)
    assert error.code == "claim.taken" and f.BRANCH in error.message


def test_a_rejected_claim_reopens_the_topic_for_others():
    state = fold(decide(state_after(4), c.DecideClaim(claim_id="C1", decision="reject"), ctx(f.business)),
                 state_after(4))
    assert state.status == "open" and state.claim is None
    claimed = fold(decide(state, c.ClaimTopic(org="HQ/SX/TY/B018"), ctx(f.other_branch)), state)
    assert claimed.claim.claim_id == "C2"


def test_wrong_role_is_forbidden_and_names_the_role_needed():
    error = rejected(state_after(1), c.ReviewProposal(decision="approve"), f.committee)
    assert error.kind == "forbidden" and "manager" in error.message


def test_managers_of_another_province_cannot_review():
    outsider = Actor(sub="x", role="manager", org="HQ/BJ")
    assert rejected(state_after(1), c.ReviewProposal(decision="approve"), outsider).code == "org.out_of_scope"


def test_units_outside_the_topic_org_cannot_claim():
    outsider = Actor(sub="x", role="branch", org="HQ/BJ/C1/B1")
    assert rejected(state_after(3), c.ClaimTopic(org=outsider.org), outsider).code == "claim.outside_topic_org"


def test_only_the_proposer_revises_a_returned_proposal():
    returned = fold(decide(state_after(1), c.ReviewProposal(decision="return"), ctx(f.manager)), state_after(1))
    revision = c.ReviseProposal(**f.propose("T-1").model_dump(exclude={"topic_id", "org"}))
    assert rejected(returned, revision, f.manager).code == "topic.not_proposer"
    assert fold(decide(returned, revision, ctx(f.proposer)), returned).status == "proposed"


def test_conclusion_waits_for_every_milestone():
    error = rejected(state_after(7), f.lifecycle("T-1")[10][0], f.branch)
    assert error.code == "conclusion.milestones_open" and "m1" in error.message


def test_conclusion_needs_a_result_for_each_indicator():
    wrong = c.SubmitConclusion(summary="s", results=[{"indicator": "别的指标", "actual": 1}])
    assert rejected(state_after(10), wrong, f.branch).code == "conclusion.results_mismatch"


def test_a_rejected_conclusion_goes_back_to_work():
    concluding = state_after(11)
    state = fold(decide(concluding, c.DecideConclusion(decision="reject"), ctx(f.manager)), concluding)
    assert state.status == "in_progress"


def test_withdrawal_works_from_any_active_state_but_not_after_conclusion():
    for steps in range(1, 12):
        state = state_after(steps)
        assert fold(decide(state, c.WithdrawTopic(reason="调整"), ctx(f.committee)), state).status == "withdrawn"
    assert rejected(state_after(12), c.WithdrawTopic(reason="x"), f.committee).kind == "conflict"


def test_due_dates_in_the_past_are_invalid():
    past = f.propose("T-2").model_copy(update={"due_date": dt.date(2020, 1, 1)})
    assert rejected(TopicState(), past, f.proposer).code == "topic.due_date_past"


def test_milestones_must_fall_before_the_topic_due_date():
    late = c.SubmitPlan(summary="s", milestones=[{"key": "m1", "title": "t", "due_date": f.in_days(400)}])
    assert rejected(state_after(5), late, f.branch).code == "plan.milestone_due_date"


def test_unknown_milestone_is_not_found():
    assert rejected(state_after(7), c.SubmitMilestoneCompletion(key="zz", evidence="e"), f.branch).kind == "not_found"
