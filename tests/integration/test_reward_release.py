"""Rewards are released exactly once: ledger row per topic and reason, payout keyed by Idempotency-Key."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from domain import DomainError
from domain import commands as c
from tests import factories as f
from tests.fixtures.temporal import topic_worker
from tests.integration.test_topic_workflow import walk
from workflows.contracts import stream_id
from workflows.gateway import TopicGateway


class PayoutServer:
    """A real HTTP payout system on 127.0.0.1: answers `status` and counts payouts by Idempotency-Key."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[str] = []
        self.hold_first: threading.Event | None = None  # when set up, the first request waits for it
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert body["idempotency_key"] == self.headers["Idempotency-Key"]
                server.requests.append(self.headers["Idempotency-Key"])
                if server.hold_first is not None and len(server.requests) == 1:
                    server.hold_first.wait(timeout=30)
                self.send_response(server.status)
                self.send_header("X-Payout-Reference", f"PAY-{len(server.requests)}")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/payouts"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def payouts(self) -> set[str]:
        return set(self.requests)


@pytest.fixture
def payout_server():
    server = PayoutServer()
    yield server
    server.httpd.shutdown()


async def wait_for(predicate, what: str, attempts: int = 100):
    for _ in range(attempts):
        if value := await predicate():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def plan_with_milestone_reward(topic_id: str) -> list:
    steps = f.lifecycle(topic_id)[:9]
    reward = {"key": "m1", "title": "摸底", "due_date": f.in_days(60), "reward": {"amount": 800, "unit": "CNY"}}
    steps[5] = (c.SubmitPlan(summary="PDCA", milestones=[reward]), f.branch)
    return steps


async def ledger(pool, topic_id: str) -> list:
    return await pool.fetch("SELECT * FROM reward_ledger WHERE topic_id = $1", topic_id)


async def test_an_approved_milestone_releases_its_reward_once(temporal_env, event_store, task_queue, payout_server):
    topic_id = f"T-{uuid.uuid4().hex[:10].upper()}"
    gateway = TopicGateway(temporal_env.client, task_queue)
    async with topic_worker(temporal_env.client, event_store, task_queue, payout_server.url):
        await walk(gateway, topic_id, plan_with_milestone_reward(topic_id))
        released = await wait_for(lambda: _events(event_store, topic_id, "RewardReleased"), "RewardReleased")
    assert released[0].data == {"key": "milestone:m1", "reference": "PAY-1"}
    rows = await ledger(event_store.pool, topic_id)
    assert [(r["reward_key"], r["status"], float(r["amount"]), r["org"]) for r in rows] == [
        ("milestone:m1", "released", 800.0, f.BRANCH)]
    assert payout_server.payouts() == {f"{topic_id}:milestone:m1"}


async def test_a_refused_payout_is_recorded_and_a_manager_retry_releases_it(
    temporal_env, event_store, task_queue, payout_server
):
    topic_id = f"T-{uuid.uuid4().hex[:10].upper()}"
    gateway = TopicGateway(temporal_env.client, task_queue)
    payout_server.status = 422
    async with topic_worker(temporal_env.client, event_store, task_queue, payout_server.url):
        await walk(gateway, topic_id, plan_with_milestone_reward(topic_id))
        failed = await wait_for(lambda: _events(event_store, topic_id, "RewardReleaseFailed"), "RewardReleaseFailed")
        assert "HTTP 422" in failed[0].data["error"]
        assert [r["status"] for r in await ledger(event_store.pool, topic_id)] == ["refused"]
        with pytest.raises(DomainError):  # nothing to retry for an unknown reward
            await gateway.execute(topic_id, c.RetryRewardRelease(key="conclusion"), f.manager)

        payout_server.status = 200
        await gateway.execute(topic_id, c.RetryRewardRelease(key="milestone:m1"), f.manager)
        await wait_for(lambda: _events(event_store, topic_id, "RewardReleased"), "RewardReleased after retry")
        state = await gateway.current_state(topic_id)
    assert [(r.key, r.status) for r in state.rewards] == [("milestone:m1", "released")]
    rows = await ledger(event_store.pool, topic_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("released", 1)]
    assert payout_server.requests == [f"{topic_id}:milestone:m1"] * 2  # refused once, paid once: one payout key


async def _events(store, topic_id: str, event_type: str) -> list:
    return [r for r in await store.read_stream(stream_id(topic_id)) if r.event_type == event_type]


async def test_a_worker_killed_mid_payout_pays_once_after_another_worker_retries(
    temporal_env, event_store, database_url, task_queue, payout_server
):
    """The payout system gets the request, the worker dies before it hears back; the retry pays nothing twice."""
    topic_id = f"T-{uuid.uuid4().hex[:10].upper()}"
    gateway = TopicGateway(temporal_env.client, task_queue)
    async with topic_worker(temporal_env.client, event_store, task_queue):  # no webhook: walk up to the approval
        await walk(gateway, topic_id, plan_with_milestone_reward(topic_id)[:8])

    payout_server.hold_first = threading.Event()  # the first payout request waits until released
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")},
           "LINGTI_MODE": "production", "LINGTI_JWT_SECRET": "x" * 40, "LINGTI_DATABASE_URL": database_url,
           "LINGTI_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
           "LINGTI_TASK_QUEUE": task_queue, "LINGTI_REWARD_WEBHOOK_URL": payout_server.url}
    process = subprocess.Popen([sys.executable, "-m", "lingti", "worker"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        approval = asyncio.create_task(gateway.execute(topic_id, *plan_with_milestone_reward(topic_id)[8]))
        await wait_for(lambda: _received(payout_server), "the payout request to reach the payout system")
        process.kill()  # SIGKILL, by its own pid, while the payout is in flight
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    payout_server.hold_first.set()

    async with topic_worker(temporal_env.client, event_store, task_queue, payout_server.url):
        await approval  # the update itself was answered before the payout (the milestone is approved)
        await wait_for(lambda: _events(event_store, topic_id, "RewardReleased"), "RewardReleased", attempts=300)
    assert len(await _events(event_store, topic_id, "RewardReleased")) == 1
    assert len(await _events(event_store, topic_id, "RewardGranted")) == 1
    assert [r["status"] for r in await ledger(event_store.pool, topic_id)] == ["released"]
    assert payout_server.payouts() == {f"{topic_id}:milestone:m1"}  # retried with the same key: one payout
    assert len(payout_server.requests) == 2


async def _received(server: PayoutServer) -> bool:
    return bool(server.requests)
