"""One topic from 点题 to 结题 over HTTP, with a token of every role, through every return and rejection."""

from __future__ import annotations

from tests.e2e.journeys import AUDITOR, PLAN, RESULTS, SX, concluded, send, topic_body
from tests.e2e.stack import Stack, bearer

OTHER_BRANCH = bearer("branch", "HQ/SX/TY/B018", "secretary.B018")


async def test_a_topic_goes_from_proposal_to_conclusion_through_returns_and_a_rejected_claim(stack: Stack):
    topic = await send(stack, SX.proposer, "/v1/topics", topic_body(title="投递准时率"), expect=201)
    assert (topic["state"], topic["state_label"], topic["version"]) == ("proposed", "待审核", 1)
    assert topic["id"].startswith("T-") and topic["events"] == ["TopicProposed"]
    path = f"/v1/topics/{topic['id']}"

    # 点题: returned by the leader in charge, revised by the proposer, approved, confirmed by the committee.
    returned = await send(stack, SX.manager, f"{path}/review", {"decision": "return", "comment": "指标不清"})
    assert (returned["state"], returned["state_label"]) == ("returned", "退回修改")
    assert returned["review_comment"] == "指标不清"
    revision = {k: v for k, v in topic_body(title="提升城区投递准时率").items() if k != "org"}
    revised = await send(stack, SX.proposer, path, revision, method="PUT")
    assert (revised["state"], revised["title"]) == ("proposed", "提升城区投递准时率")
    assert (await send(stack, SX.manager, f"{path}/review", {"decision": "approve"}))["state"] == "reviewed"
    opened = await send(stack, SX.committee, f"{path}/publish", {"comment": "党委确定"})
    assert (opened["state"], opened["state_label"]) == ("open", "待认领")

    # 领题: B018's claim is rejected by the business department, then B017's is confirmed (双向确认).
    first = await send(stack, OTHER_BRANCH, f"{path}/claims", {"org": "HQ/SX/TY/B018", "note": "我们来"})
    assert (first["state"], first["claim_id"], first["claimed_by"]) == ("claim_pending", "C1", "HQ/SX/TY/B018")
    rejected = await send(stack, SX.business, f"{path}/claims/C1/decision", {"decision": "reject", "comment": "不对口"})
    assert (rejected["state"], rejected["claim"]) == ("open", None)
    second = await send(stack, SX.branch, f"{path}/claims", {"org": SX.branch_org, "note": "我支部认领"})
    assert (second["state"], second["claim_id"]) == ("claim_pending", "C2")
    claimed = await send(stack, SX.business, f"{path}/claims/C2/decision", {"decision": "confirm"})
    assert (claimed["state"], claimed["claim"]["status"]) == ("claimed", "confirmed")
    assert claimed["claimed_by"] == SX.branch_org

    # 破题: plan returned then approved; milestone m1 returned then approved; a progress report.
    m2 = {"key": "m2", "title": "整改", "due_date": PLAN["milestones"][0]["due_date"]}
    plan = {**PLAN, "milestones": [*PLAN["milestones"], m2]}
    assert (await send(stack, SX.branch, f"{path}/plan", plan))["state"] == "plan_submitted"
    returned_plan = await send(stack, SX.manager, f"{path}/plan/decision", {"decision": "return", "comment": "细化"})
    assert (returned_plan["state"], returned_plan["plan"]["status"]) == ("claimed", "returned")
    assert (await send(stack, SX.branch, f"{path}/plan", plan))["state"] == "plan_submitted"
    working = await send(stack, SX.manager, f"{path}/plan/decision", {"decision": "approve"})
    assert (working["state"], working["state_label"]) == ("in_progress", "破题中")
    assert [m["key"] for m in working["milestones"]] == ["m1", "m2"]
    await send(stack, SX.branch, f"{path}/milestones/m1/completion", {"evidence": "摸底报告"})
    back = await send(stack, SX.manager, f"{path}/milestones/m1/decision", {"decision": "return", "comment": "补充"})
    assert back["milestones"][0]["status"] == "pending"
    for key in ("m1", "m2"):
        await send(stack, SX.branch, f"{path}/milestones/{key}/completion", {"evidence": f"{key} 完成"})
        await send(stack, SX.manager, f"{path}/milestones/{key}/decision", {"decision": "approve"})
    reported = await send(stack, SX.branch, f"{path}/reports", {"progress_pct": 90, "summary": "基本完成"})
    assert reported["reports"] == [{"progress_pct": 90, "summary": "基本完成"}]

    # 结题: the first conclusion is rejected, the second approved.
    assert (await send(stack, SX.branch, f"{path}/conclusion", RESULTS))["state"] == "concluding"
    rejected_conclusion = await send(stack, SX.manager, f"{path}/conclusion/decision",
                                     {"decision": "reject", "comment": "证据不足"})
    assert (rejected_conclusion["state"], rejected_conclusion["conclusion"]["status"]) == ("in_progress", "rejected")
    assert (await send(stack, SX.branch, f"{path}/conclusion", RESULTS))["state"] == "concluding"
    early = await send(stack, SX.manager, f"{path}/conclusion/decision", {"decision": "approve"}, expect=409)
    assert early["error"]["code"] == "conclusion.evaluations_missing"
    for party, who in (("grassroots", SX.branch), ("self", SX.branch), ("peer", SX.business), ("leader", SX.manager)):
        await send(stack, who, f"{path}/evaluations", {"party": party, "score": 90})
    posting = await send(stack, SX.manager, f"{path}/conclusion/decision", {"decision": "approve", "comment": "通过"})
    assert (posting["state"], posting["state_label"], posting["final_score"]) == ("posting", "结题公示中", 90.0)
    done = await concluded(stack, posting)  # 公示 ends (the stack's posting period is zero) without objection
    assert (done["state"], done["state_label"], done["conclusion"]["status"]) == ("concluded", "已结题", "approved")

    # The auditor at HQ reads the projected topic and its full, ordered, hash-chained event log.
    await stack.wait_for_version(topic["id"], done["version"])
    seen = await send(stack, AUDITOR, path, None, method="GET")
    assert {k: v for k, v in seen.items() if k not in ("proposed_at", "updated_at")} == \
        {k: v for k, v in done.items() if k not in ("events", "proposed_at", "updated_at")}
    log = (await send(stack, AUDITOR, f"{path}/events", None, method="GET"))["events"]
    assert [e["version"] for e in log] == list(range(1, done["version"] + 1))
    assert [e["type"] for e in log] == [
        "TopicProposed", "ProposalReturned", "ProposalRevised", "ProposalApproved", "TopicPublished",
        "TopicClaimed", "ClaimRejected", "TopicClaimed", "ClaimConfirmed",
        "PlanSubmitted", "PlanReturned", "PlanSubmitted", "PlanApproved",
        "MilestoneCompletionSubmitted", "MilestoneReturned",
        "MilestoneCompletionSubmitted", "MilestoneApproved", "MilestoneCompletionSubmitted", "MilestoneApproved",
        "ProgressReported", "ConclusionSubmitted", "ConclusionRejected", "ConclusionSubmitted",
        *["EvaluationSubmitted"] * 4, "ConclusionEndorsed", "PostingCompleted",
        *(["RewardGranted", "RewardReleased"] if done["reward"] else []),
    ]
    assert [e["actor"]["role"] for e in log[:9]] == [
        "branch", "manager", "branch", "manager", "committee", "branch", "business", "branch", "business"]
    assert log[7]["actor"] == {"sub": f"secretary.{SX.branch_org}", "role": "branch", "org": SX.branch_org,
                               "name": f"secretary.{SX.branch_org}"}
    assert all(e["prev_hash"] == prev["hash"] for prev, e in zip(log, log[1:], strict=False))
    assert (await send(stack, AUDITOR, f"{path}/events", None, method="GET"))["chain_valid"] is True
    assert all(e["occurred_at"] and e["correlation_id"] for e in log)

    listed = await send(stack, AUDITOR, "/v1/topics?state=concluded", None, method="GET")
    assert [t["id"] for t in listed["items"]] == [topic["id"]]
