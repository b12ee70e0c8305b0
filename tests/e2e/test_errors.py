"""Every error class answers in the one shape `{"error": {"code", "message", "details"}}` and records nothing."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from domain import Actor
from tests.e2e.journeys import AUDITOR, BJ, SX, drive, propose, send, topic_body
from tests.e2e.stack import Stack, bearer, token
from workflows.gateway import new_topic_id


def error_of(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] and isinstance(body["error"]["details"], dict)
    assert response.headers["X-Request-ID"]
    return body["error"]


async def test_requests_without_a_valid_token_get_401(stack: Stack):
    body = topic_body()
    cases = [
        ({}, "auth.missing"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "auth.missing"),
        ({"Authorization": f"Bearer {token('branch', 'HQ/SX', ttl=timedelta(seconds=-60))}"}, "auth.expired"),
        ({"Authorization": f"Bearer {token('branch', 'HQ/SX', secret='another-secret-' + 'y' * 40)}"}, "auth.invalid"),
        ({"Authorization": "Bearer not.a.jwt"}, "auth.invalid"),
        ({"Authorization": f"Bearer {token('janitor', 'HQ/SX')}"}, "auth.invalid"),
        ({"Authorization": f"Bearer {token('system', 'HQ')}"}, "auth.invalid"),  # the timers' role, never a user's
    ]
    before = await stack.event_count()
    for headers, code in cases:
        response = await stack.http.post("/v1/topics", json=body, headers=headers)
        error_of(response, 401, code)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    error_of(await stack.http.get("/v1/topics"), 401, "auth.missing")
    assert await stack.event_count() == before


async def test_forbidden_unknown_illegal_and_malformed_commands_change_nothing(stack: Stack):
    topic = await propose(stack)
    path = f"/v1/topics/{topic['id']}"
    before = await stack.event_count()

    # 403: the wrong role, a unit outside the topic's subtree, a non-proposer revising.
    wrong_role = error_of(await stack.as_(SX.business, "POST", f"{path}/review", json={"decision": "approve"}),
                          403, "role.not_allowed")
    assert wrong_role["details"]["allowed_roles"] == ["manager"]
    error_of(await stack.as_(BJ.manager, "POST", f"{path}/review", json={"decision": "approve"}), 403,
             "topic.out_of_scope")
    error_of(await stack.as_(BJ.proposer, "POST", "/v1/topics", json=topic_body("HQ/SX")), 403, "org.out_of_scope")
    revision = {k: v for k, v in topic_body().items() if k != "org"}
    error_of(await stack.as_(SX.manager, "PUT", path, json=revision), 403, "topic.not_proposer")
    error_of(await stack.as_(SX.branch, "POST", "/v1/orgs", json={"path": "HQ/X", "name": "x", "kind": "province"}),
             403, "role.not_allowed")

    # 404: an unknown topic (read or command), an unknown route; 405: a method the route does not take.
    error_of(await stack.as_(AUDITOR, "GET", "/v1/topics/T-NOSUCHTOPIC"), 404, "topic.unknown")
    error_of(await stack.as_(SX.manager, "POST", "/v1/topics/T-NOSUCHTOPIC/review", json={"decision": "approve"}),
             404, "topic.unknown")
    error_of(await stack.as_(AUDITOR, "GET", "/v1/nothing-here"), 404, "route.not_found")
    error_of(await stack.as_(AUDITOR, "DELETE", path), 405, "method.not_allowed")

    # 409: claiming a topic that is not open names its current state and the allowed one.
    illegal = error_of(await stack.as_(SX.proposer, "POST", f"{path}/claims", json={"org": SX.branch_org}),
                       409, "state.not_allowed")
    assert "proposed" in illegal["message"] and "open" in illegal["message"]
    assert illegal["details"] == {"state": "proposed", "allowed_states": ["open"]}

    # 422: malformed bodies with field-level details, and org paths nobody registered.
    malformed = error_of(await stack.as_(SX.proposer, "POST", "/v1/topics",
                                         json={**topic_body(), "title": "", "indicators": [], "colour": "red"}),
                         422, "request.invalid")
    fields = {tuple(e["loc"]): e["msg"] for e in malformed["details"]["errors"]}
    assert {("body", "title"), ("body", "indicators"), ("body", "colour")} <= set(fields)
    bad_json = await stack.as_(SX.manager, "POST", f"{path}/review", content=b"{not json",
                               headers={"Content-Type": "application/json"})
    error_of(bad_json, 422, "request.invalid")
    bad_decision = error_of(await stack.as_(SX.manager, "POST", f"{path}/review", json={"decision": "maybe"}),
                            422, "request.invalid")
    assert bad_decision["details"]["errors"][0]["loc"] == ["body", "decision"]
    unknown = error_of(await stack.as_(SX.proposer, "POST", "/v1/topics", json=topic_body("HQ/SX/NOWHERE")),
                       422, "org.unknown")
    assert unknown["details"] == {"field": "org", "path": "HQ/SX/NOWHERE"} and "POST /v1/orgs" in unknown["message"]

    # None of it reached the log; the topic is exactly as proposed.
    assert await stack.event_count() == before
    events = (await send(stack, AUDITOR, f"{path}/events", None, method="GET"))["events"]
    assert [e["type"] for e in events] == ["TopicProposed"]


async def test_unknown_milestone_claim_org_and_claim_id_are_rejected_on_a_running_topic(stack: Stack):
    topic = await drive(stack, await propose(stack), "in_progress")
    path = f"/v1/topics/{topic['id']}"
    before = await stack.event_count()
    missing = error_of(await stack.as_(SX.branch, "POST", f"{path}/milestones/m9/completion", json={"evidence": "x"}),
                       404, "milestone.unknown")
    assert missing["details"] == {"key": "m9"}
    error_of(await stack.as_(SX.manager, "POST", f"{path}/milestones/m9/decision", json={"decision": "approve"}),
             404, "milestone.unknown")
    error_of(await stack.as_(SX.business, "POST", f"{path}/claims/C1/decision", json={"decision": "confirm"}),
             409, "state.not_allowed")
    error_of(await stack.as_(SX.business, "POST", f"{path}/claims/{'C' * 41}/decision", json={"decision": "confirm"}),
             422, "request.invalid")

    assert await stack.event_count() == before

    other = await drive(stack, await propose(stack), "claim_pending")
    before = await stack.event_count()
    unknown = error_of(await stack.as_(bearer("branch", "HQ/SX/TY/B099"), "POST", f"/v1/topics/{other['id']}/claims",
                                       json={"org": "HQ/SX/TY/B099"}), 422, "org.unknown")
    assert unknown["details"]["path"] == "HQ/SX/TY/B099"
    no_claim = error_of(await stack.as_(SX.business, "POST", f"/v1/topics/{other['id']}/claims/C7/decision",
                                        json={"decision": "confirm"}), 404, "claim.unknown")
    assert no_claim["details"] == {"claim_id": "C7", "pending_claim_id": "C1"}
    assert await stack.event_count() == before


async def test_a_rejected_proposal_starts_no_workflow(stack: Stack, temporal_env):
    auditor = bearer("auditor", "HQ/SX", "auditor.sx")
    cases = [
        (auditor, topic_body(), 403, "role.not_allowed"),
        (SX.proposer, topic_body(due_date=(date.today() - timedelta(days=3)).isoformat()), 422, "topic.due_date_past"),
    ]
    for who, body, status, code in cases:
        error_of(await stack.as_(who, "POST", "/v1/topics", json=body, key="attempt-1"), status, code)
    for sub in ("auditor.sx", f"proposer.{SX.province}"):
        topic_id = new_topic_id(Actor(sub=sub, role="branch", org="HQ"), "attempt-1")
        with pytest.raises(RPCError) as missing:
            await temporal_env.client.get_workflow_handle(f"topic-{topic_id}").describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND
