"""Health, OpenAPI, request ids, and the organisation tree."""

from __future__ import annotations

from projections.read_models import default_projections
from tests.e2e.journeys import AUDITOR, SX, send, topic_body
from tests.e2e.stack import Stack, bearer

ADMIN = bearer("admin", "HQ", "admin")


async def test_health_names_every_part_and_the_failing_one(stack: Stack):
    healthy = await stack.http.get("/v1/health")
    assert healthy.status_code == 200
    parts = healthy.json()["parts"]
    assert {name: part["status"] for name, part in parts.items()} == \
        {"postgres": "ok", "temporal": "ok", "projector": "ok"}
    assert {c["name"] for c in parts["projector"]["checkpoints"]} == {p.name for p in default_projections()}

    await stack.pool.execute("ALTER TABLE projection_checkpoints RENAME TO projection_checkpoints_away")
    try:
        failing = await stack.http.get("/v1/health")
    finally:
        await stack.pool.execute("ALTER TABLE projection_checkpoints_away RENAME TO projection_checkpoints")
    assert failing.status_code == 503
    error = failing.json()["error"]
    assert error["code"] == "health.failing" and "projector" in error["message"]
    assert error["details"]["parts"]["projector"]["status"] == "failing"
    assert error["details"]["parts"]["postgres"]["status"] == "ok"


async def test_openapi_docs_are_served(stack: Stack):
    assert (await stack.http.get("/docs")).status_code == 200
    spec = (await stack.http.get("/openapi.json")).json()
    assert {"/v1/topics", "/v1/topics/{topic_id}/claims/{claim_id}/decision", "/v1/reports/completion",
            "/v1/orgs", "/v1/health"} <= set(spec["paths"])


async def test_request_ids_are_echoed_generated_and_recorded_as_correlation_ids(stack: Stack):
    given = await stack.as_(SX.proposer, "POST", "/v1/topics", json=topic_body(), headers={"X-Request-ID": "req-42"})
    assert given.status_code == 201 and given.headers["X-Request-ID"] == "req-42"
    generated = await stack.as_(AUDITOR, "GET", "/v1/topics")
    assert len(generated.headers["X-Request-ID"]) == 32
    insane = await stack.as_(AUDITOR, "GET", "/v1/topics", headers={"X-Request-ID": "a b\tc"})
    assert insane.headers["X-Request-ID"] != "a b\tc"
    events = (await send(stack, AUDITOR, f"/v1/topics/{given.json()['id']}/events", None, method="GET"))["events"]
    assert events[0]["correlation_id"] == "req-42"


async def test_orgs_are_registered_by_admins_idempotently_and_listed_by_subtree(stack: Stack):
    unit = {"path": "HQ/SX/TY/B099", "name": "太原第九十九党支部", "kind": "branch"}
    created = await send(stack, ADMIN, "/v1/orgs", unit, expect=201)
    assert created["parent_path"] == "HQ/SX/TY"
    assert await send(stack, ADMIN, "/v1/orgs", unit, expect=201) == created
    clash = await stack.as_(ADMIN, "POST", "/v1/orgs", json={**unit, "name": "别的名字"})
    assert (clash.status_code, clash.json()["error"]["code"]) == (409, "org.exists")

    orphan = await stack.as_(ADMIN, "POST", "/v1/orgs", json={"path": "HQ/XX/Y", "name": "孤儿", "kind": "city"})
    assert (orphan.status_code, orphan.json()["error"]["code"]) == (422, "org.parent_missing")
    bad_kind = await stack.as_(ADMIN, "POST", "/v1/orgs", json={**unit, "kind": "planet"})
    assert bad_kind.status_code == 422 and bad_kind.json()["error"]["details"]["errors"][0]["loc"] == ["body", "kind"]
    province_admin = bearer("admin", "HQ/BJ")
    outside = await stack.as_(province_admin, "POST", "/v1/orgs", json={"path": "HQ/SX/Z", "name": "z", "kind": "city"})
    assert (outside.status_code, outside.json()["error"]["code"]) == (403, "org.out_of_scope")

    ty = await stack.as_(SX.manager, "GET", "/v1/orgs?under=HQ/SX/TY")
    assert [o["path"] for o in ty.json()["items"]] == \
        ["HQ/SX/TY", "HQ/SX/TY/B017", "HQ/SX/TY/B018", "HQ/SX/TY/B099"]
    mine = await send(stack, bearer("branch", "HQ/BJ/C1/B1"), "/v1/orgs", None, method="GET")
    assert [o["path"] for o in mine["items"]] == ["HQ/BJ/C1/B1"]
    above = await stack.as_(bearer("branch", "HQ/BJ/C1/B1"), "GET", "/v1/orgs?under=HQ/BJ")
    assert above.status_code == 403


async def test_an_unexpected_failure_is_a_500_in_the_one_shape_without_internals(stack: Stack):
    await stack.pool.execute("ALTER TABLE topics RENAME TO topics_away")
    try:
        response = await stack.as_(AUDITOR, "GET", "/v1/topics", headers={"X-Request-ID": "req-500"})
    finally:
        await stack.pool.execute("ALTER TABLE topics_away RENAME TO topics")
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "req-500"
    assert response.json()["error"]["code"] == "internal"
    assert "topics" not in response.text and "Traceback" not in response.text
