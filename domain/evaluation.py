"""结题 evaluation: four parties score the conclusion (四方评价), the leader in charge endorses it, it is posted
publicly (公示), and it stands when the posting period ends without objection."""

from __future__ import annotations

from domain import events as ev
from domain.commands import CompletePosting, Context, DecideConclusion, RaiseObjection, SubmitEvaluation
from domain.errors import IllegalTransition
from domain.policy import PARTIES
from domain.rewards import conclusion_reward
from domain.rules import claimant_org, require_role, require_scope, require_status, require_within
from domain.state import Evaluation, Objection, TopicState

# Which role speaks for each party, and whose subtree it must act from.
PARTY_ROLES = {"grassroots": "branch", "self": "branch", "peer": "business", "leader": "manager"}


def submit_evaluation(state: TopicState, cmd: SubmitEvaluation, ctx: Context) -> list[ev.Event]:
    role = PARTY_ROLES[cmd.party]
    require_role(ctx, f"the {cmd.party} evaluation", role)
    require_status(state, "evaluate the conclusion", "concluding")
    if cmd.party == "self":  # 党员自评: the claiming branch itself
        require_scope(ctx, claimant_org(state), "the self evaluation")
    elif cmd.party == "grassroots":  # 基层测评: any grassroots unit of the owning organisation
        require_within(ctx, state.org, "the grassroots evaluation")
    else:
        require_scope(ctx, state.org, f"the {cmd.party} evaluation")
    return [ev.EvaluationSubmitted(party=cmd.party, score=cmd.score, comment=cmd.comment, by=ctx.actor.sub)]


def decide_conclusion(state: TopicState, cmd: DecideConclusion, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "approving a conclusion", "manager")
    require_scope(ctx, state.org, "approving a conclusion")
    require_status(state, "decide on the conclusion", "concluding")
    if cmd.decision == "reject":
        return [ev.ConclusionRejected(comment=cmd.comment)]
    if ctx.rules < 2:  # topics started before 四方评价 and 公示 existed
        return [ev.ConclusionApproved(comment=cmd.comment)]
    scores = {e.party: e.score for e in state.evaluations}
    missing = [p for p in PARTIES if p not in scores]
    if missing:
        raise IllegalTransition("conclusion.evaluations_missing",
                                f"the four-party evaluation (四方评价) is incomplete: {missing} have not scored yet; "
                                "approve once all four are in", missing_parties=missing)
    return [ev.ConclusionEndorsed(comment=cmd.comment, final_score=ctx.policy.final_score(scores),
                                  posting_ends_at=ctx.now + ctx.policy.posting_period)]


def raise_objection(state: TopicState, cmd: RaiseObjection, ctx: Context) -> list[ev.Event]:
    require_status(state, "object to the conclusion", "posting")
    require_role(ctx, "objecting to a posted conclusion", "branch", "business", "manager", "committee", "auditor")
    require_within(ctx, state.org, "objecting to a posted conclusion")
    return [ev.ObjectionRaised(reason=cmd.reason, by=ctx.actor.sub, org=ctx.actor.org)]


def complete_posting(state: TopicState, cmd: CompletePosting, ctx: Context) -> list[ev.Event]:
    require_role(ctx, "closing the posting period", "system")
    require_status(state, "close the posting period", "posting")
    if state.posting_ends_at is None or ctx.now < state.posting_ends_at:
        raise IllegalTransition("posting.not_over", f"the posting period runs until {state.posting_ends_at}")
    assert state.final_score is not None
    share = ctx.policy.reward_share(state.final_score)
    granted = conclusion_reward(state, share)
    return [ev.PostingCompleted(final_score=state.final_score, reward_share=share), *granted]


def on_evaluated(state: TopicState, e: ev.EvaluationSubmitted) -> TopicState:
    kept = tuple(x for x in state.evaluations if x.party != e.party)  # a party may revise its score
    evaluation = Evaluation(party=e.party, score=e.score, comment=e.comment, by=e.by)
    return state.model_copy(update={"evaluations": (*kept, evaluation)})


def on_endorsed(state: TopicState, e: ev.ConclusionEndorsed) -> TopicState:
    return state.model_copy(update={"status": "posting", "final_score": e.final_score,
                                    "posting_ends_at": e.posting_ends_at})


def on_objection(state: TopicState, e: ev.ObjectionRaised) -> TopicState:
    objection = Objection(reason=e.reason, by=e.by, org=e.org)
    return state.model_copy(update={"status": "concluding", "posting_ends_at": None,
                                    "objections": (*state.objections, objection)})


def on_posting_completed(state: TopicState, e: ev.PostingCompleted) -> TopicState:
    assert state.conclusion is not None
    conclusion = state.conclusion.model_copy(update={"status": "approved"})
    return state.model_copy(update={"status": "concluded", "conclusion": conclusion, "posting_ends_at": None})
