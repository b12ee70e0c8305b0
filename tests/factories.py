"""Actors and commands for tests: one topic owned by HQ/SX, claimed by branch HQ/SX/TY/B017."""

from __future__ import annotations

import datetime as dt

from domain import Actor
from domain import commands as c
from domain.policy import ControlPolicy

PROVINCE = "HQ/SX"
BRANCH = "HQ/SX/TY/B017"

proposer = Actor(sub="li.ming", role="branch", org=PROVINCE, name="李明")
manager = Actor(sub="wang.fang", role="manager", org=PROVINCE, name="王芳")
committee = Actor(sub="zhao.lei", role="committee", org=PROVINCE, name="赵磊")
business = Actor(sub="sun.li", role="business", org=PROVINCE, name="孙丽")
branch = Actor(sub="zhou.jie", role="branch", org=BRANCH, name="周杰")
other_branch = Actor(sub="wu.gang", role="branch", org="HQ/SX/TY/B018", name="吴刚")


def in_days(days: int) -> dt.date:
    return dt.date.today() + dt.timedelta(days=days)


def propose(topic_id: str, org: str = PROVINCE, category: str = "服务质量") -> c.ProposeTopic:
    return c.ProposeTopic(
        topic_id=topic_id, title="提升邮件投递准时率", description="城区投递准时率低于目标", category=category,
        org=org, indicators=[{"name": "投递准时率", "target": 98.5, "unit": "%", "direction": "at_least"}],
        due_date=in_days(300), reward={"amount": 5000, "unit": "CNY"},
    )


# Tests that need 已结题 without waiting out the 5-day 公示 start topics with this policy.
INSTANT_POSTING = ControlPolicy(posting_period=dt.timedelta(0))
SCORES = {"grassroots": 92, "self": 95, "peer": 88, "leader": 94}  # final score 92.3: the full reward


def evaluations(claimant: Actor = branch, scores: dict[str, float] = SCORES) -> list[tuple[c.Command, Actor]]:
    """四方评价, each party by the role that speaks for it (grassroots: another branch of the owning unit)."""
    speakers = {"grassroots": other_branch, "self": claimant, "peer": business, "leader": manager}
    return [(c.SubmitEvaluation(party=party, score=score), speakers[party]) for party, score in scores.items()]


def complete_posting(state, now: dt.datetime):
    """What the workflow's timer does when 公示 ends: the conclusion stands (pure, for decider-level tests)."""
    from domain import Context, decide, fold
    from domain.actors import SYSTEM

    return fold(decide(state, c.CompletePosting(), Context(actor=SYSTEM, now=now, policy=INSTANT_POSTING)), state)


def lifecycle(topic_id: str, claim_org: str = BRANCH) -> list[tuple[c.Command, Actor]]:
    """Every user step from 点题 to 结题 (the last one starts 公示; the workflow's timer then concludes it)."""
    claimant = branch if claim_org == BRANCH else Actor(sub=f"b-{claim_org}", role="branch", org=claim_org)
    return [
        (propose(topic_id), proposer),
        (c.ReviewProposal(decision="approve", comment="同意"), manager),
        (c.PublishTopic(comment="党委确定"), committee),
        (c.ClaimTopic(org=claim_org, note="我支部认领"), claimant),
        (c.DecideClaim(claim_id="C1", decision="confirm"), business),
        (c.SubmitPlan(summary="PDCA", milestones=[{"key": "m1", "title": "摸底", "due_date": in_days(60)}]), claimant),
        (c.DecidePlan(decision="approve"), manager),
        (c.SubmitMilestoneCompletion(key="m1", evidence="摸底报告"), claimant),
        (c.DecideMilestone(key="m1", decision="approve"), manager),
        (c.ReportProgress(progress_pct=90, summary="基本完成"), claimant),
        (c.SubmitConclusion(summary="达标", results=[{"indicator": "投递准时率", "actual": 99.1}]), claimant),
        *evaluations(claimant),
        (c.DecideConclusion(decision="approve", comment="通过"), manager),
    ]
