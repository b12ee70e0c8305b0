"""Who does what over HTTP: the cast of a province, topic bodies, and driving a topic to a given state."""

from __future__ import annotations

import asyncio
import time

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tests.e2e.stack import Stack, bearer


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class Cast:
    """The people of one province, and the branch that claims its topics."""

    province: str
    branch_org: str

    @property
    def proposer(self) -> dict[str, str]:
        return bearer("branch", self.province, f"proposer.{self.province}")

    @property
    def manager(self) -> dict[str, str]:
        return bearer("manager", self.province, f"manager.{self.province}")

    @property
    def committee(self) -> dict[str, str]:
        return bearer("committee", self.province, f"committee.{self.province}")

    @property
    def business(self) -> dict[str, str]:
        return bearer("business", self.province, f"business.{self.province}")

    @property
    def branch(self) -> dict[str, str]:
        return bearer("branch", self.branch_org, f"secretary.{self.branch_org}")


SX = Cast("HQ/SX", "HQ/SX/TY/B017")
BJ = Cast("HQ/BJ", "HQ/BJ/C1/B1")
AUDITOR = bearer("auditor", "HQ", "auditor")


def topic_body(org: str = "HQ/SX", category: str = "服务质量", **changes: Any) -> dict[str, Any]:
    return {
        "title": "提升邮件投递准时率", "description": "城区投递准时率低于目标", "category": category, "org": org,
        "indicators": [{"name": "投递准时率", "target": 98.5, "unit": "%", "direction": "at_least"}],
        "due_date": in_days(300), "reward": {"amount": 5000, "unit": "CNY"}, **changes,
    }


PLAN = {"summary": "PDCA 循环", "milestones": [{"key": "m1", "title": "摸底", "due_date": in_days(60)}]}
RESULTS = {"summary": "达标", "results": [{"indicator": "投递准时率", "actual": 99.1}]}


async def send(stack: Stack, who: dict[str, str], path: str, body: Any, expect: int = 200,
               method: str = "POST", key: str | None = None) -> dict[str, Any]:
    response = await stack.as_(who, method, path, json=body, key=key)
    assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


async def propose(stack: Stack, cast: Cast = SX, **changes: Any) -> dict[str, Any]:
    return await send(stack, cast.proposer, "/v1/topics", topic_body(cast.province, **changes), expect=201)


def _steps(cast: Cast) -> list[tuple[str, dict[str, str], str, dict[str, Any]]]:
    """(state reached, who, path under the topic, body) from proposed to concluded."""
    return [
        ("reviewed", cast.manager, "review", {"decision": "approve", "comment": "同意"}),
        ("open", cast.committee, "publish", {"comment": "党委确定"}),
        ("claim_pending", cast.branch, "claims", {"org": cast.branch_org, "note": "我支部认领"}),
        ("claimed", cast.business, "claims/{claim_id}/decision", {"decision": "confirm"}),
        ("plan_submitted", cast.branch, "plan", PLAN),
        ("in_progress", cast.manager, "plan/decision", {"decision": "approve"}),
        ("in_progress", cast.branch, "milestones/m1/completion", {"evidence": "摸底报告"}),
        ("in_progress", cast.manager, "milestones/m1/decision", {"decision": "approve"}),
        ("concluding", cast.branch, "conclusion", RESULTS),
        *[("concluding", who, "evaluations", {"party": party, "score": score}) for party, who, score in (
            ("grassroots", cast.branch, 92), ("self", cast.branch, 95), ("peer", cast.business, 88),
            ("leader", cast.manager, 94))],
        ("posting", cast.manager, "conclusion/decision", {"decision": "approve", "comment": "通过"}),
    ]


async def drive(stack: Stack, topic: dict[str, Any], until: str, cast: Cast = SX) -> dict[str, Any]:
    """Take a topic along the happy path from where it is until it first reaches `until` (claim_id is followed).
    `concluded` is reached when 公示 ends: the stack's posting period is zero, so the workflow's timer ends it."""
    if until == "concluded":
        posting = await drive(stack, topic, "posting", cast)
        return await concluded(stack, posting)
    steps = _steps(cast)
    reached = [s for s, *_ in steps]
    assert until in reached, f"cannot drive to {until}"
    start = reached.index(topic["state"]) + 1 if topic["state"] in reached else 0
    for _, who, path, body in steps[start: reached.index(until) + 1]:
        path = path.format(claim_id=(topic.get("claim") or {}).get("claim_id"))
        topic = await send(stack, who, f"/v1/topics/{topic['id']}/{path}", body)
    assert topic["state"] == until
    return topic


async def concluded(stack: Stack, posting: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """The topic once settled: the workflow's 公示 timer concluded it and its rewards are paid (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        topic = await send(stack, AUDITOR, f"/v1/topics/{posting['id']}", None, method="GET")
        if topic["state"] == "concluded" and all(r["status"] == "released" for r in topic["rewards"]):
            return topic
        assert time.monotonic() < deadline, f"topic {posting['id']} still {topic['state']} after 公示"
        await asyncio.sleep(0.05)
