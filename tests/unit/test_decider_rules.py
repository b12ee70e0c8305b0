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
    return Context(actor=actor, now=NOW, policy=f.INSTANT_POSTING)


def state_after(steps: int, topic_id: str = "T-1") -> TopicState:
    state = TopicState()
    for command, actor in f.lifecycle(topic_id)[:steps]:
        state = fold(decide(state, command, ctx(actor)), state)
    return state


def rejected(state: TopicState, command: c.Command, actor: Actor) -> DomainError:
    with pytest.raises(DomainError) as raised:
        decide(state, command, ctx(actor))
    return raised.value


def concluded(topic_id: str = "T-1") -> TopicState:
    return f.complete_posting(state_after(16, topic_id), NOW)


def test_walks_the_whole_lifecycle_to_concluded():
    posting = state_after(16)
    assert (posting.status, posting.label, posting.final_score) == ("posting", "结题公示中", 92.3)
    state = concluded()
    assert (state.status, state.label, state.version) == ("concluded", "已结题", 18)
    assert [(r.key, r.amount, r.status) for r in state.rewards] == [("conclusion", 5000.0, "granted")]


def test_approval_waits_for_all_four_evaluations():
    three = state_after(14)
    error = rejected(three, c.DecideConclusion(decision="approve"), f.manager)
    assert error.code == "conclusion.evaluations_missing" and "leader" in error.message


def test_each_party_speaks_through_its_own_role():
    assert rejected(state_after(11), c.SubmitEvaluation(party="leader", score=90), f.branch).kind == "forbidden"
    assert rejected(state_after(11), c.SubmitEvaluation(party="self", score=90), f.other_branch).kind == "forbidden"


def test_an_objection_during_posting_sends_it_back_to_the_manager():
    objector = Actor(sub="x", role="branch", org="HQ/SX/DT/B001")
    state = fold(decide(state_after(16), c.RaiseObjection(reason="数据存疑"), ctx(objector)), state_after(16))
    assert (state.status, len(state.objections), state.posting_ends_at) == ("concluding", 1, None)
    outsider = Actor(sub="y", role="branch", org="HQ/BJ/C1/B1")
    assert rejected(state_after(16), c.RaiseObjection(reason="x"), outsider).kind == "forbidden"


def test_the_reward_is_scaled_by_the_final_score_tier():
    low = {"grassroots": 70, "self": 80, "peer": 70, "leader": 80}  # 75.0: the 80% tier
    state = state_after(11)
    for command, actor in f.evaluations(scores=low):
        state = fold(decide(state, command, ctx(actor)), state)
    state = fold(decide(state, c.DecideConclusion(decision="approve"), ctx(f.manager)), state)
    state = f.complete_posting(state, NOW)
    assert (state.final_score, [r.amount for r in state.rewards]) == (75.0, [4000.0])


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
    for steps in range(1, 17):
        state = state_after(steps)
        assert fold(decide(state, c.WithdrawTopic(reason="调整"), ctx(f.committee)), state).status == "withdrawn"
    assert rejected(concluded(), c.WithdrawTopic(reason="x"), f.committee).kind == "conflict"


def test_due_dates_in_the_past_are_invalid():
    past = f.propose("T-2").model_copy(update={"due_date": dt.date(2020, 1, 1)})
    assert rejected(TopicState(), past, f.proposer).code == "topic.due_date_past"


def test_milestones_must_fall_before_the_topic_due_date():
    late = c.SubmitPlan(summary="s", milestones=[{"key": "m1", "title": "t", "due_date": f.in_days(400)}])
    assert rejected(state_after(5), late, f.branch).code == "plan.milestone_due_date"


def test_unknown_milestone_is_not_found():
    assert rejected(state_after(7), c.SubmitMilestoneCompletion(key="zz", evidence="e"), f.branch).kind == "not_found"
