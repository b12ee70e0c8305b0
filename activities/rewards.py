"""Releasing a reward exactly once: the ledger row is keyed by topic and reason, and the payout to the external
system carries that key as its Idempotency-Key, so a retry after any crash pays nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import asyncpg
import httpx
import structlog
from temporalio import activity

from activities.contracts import RELEASE_REWARD, ReleaseRewardInput, ReleaseRewardOutput

log = structlog.get_logger(__name__)
T = TypeVar("T")

_RECORD = """
INSERT INTO reward_ledger (ledger_key, topic_id, reward_key, reason, org, amount, unit, granted_at, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')
ON CONFLICT (ledger_key) DO UPDATE SET attempts = reward_ledger.attempts + 1
RETURNING status, reference
"""
_SETTLE = """
UPDATE reward_ledger SET status = $2, reference = $3, error = $4,
       released_at = CASE WHEN $2 = 'released' THEN now() ELSE released_at END
WHERE ledger_key = $1 AND status <> 'released'
"""


HEARTBEAT_EVERY = 2.0  # seconds; the workflow's heartbeat timeout is a few of these


async def _with_heartbeats(work: Awaitable[T]) -> T:
    """Heartbeat while waiting on the payout system, so a worker that dies meanwhile is noticed within seconds
    (the retry then goes to another worker, with the same Idempotency-Key)."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
        activity.heartbeat()


class PayoutRefused(Exception):
    """The external system said no for good (a 4xx): retrying the same request cannot help."""


class RewardActivities:
    def __init__(self, pool: asyncpg.Pool, webhook_url: str | None = None, timeout: float = 10.0) -> None:
        self._pool = pool
        self._webhook_url = webhook_url
        self._timeout = timeout

    @activity.defn(name=RELEASE_REWARD)
    async def release_reward(self, request: ReleaseRewardInput) -> ReleaseRewardOutput:
        ledger_key = f"{request.topic_id}:{request.key}"
        bound = log.bind(ledger_key=ledger_key, attempt=activity.info().attempt)
        row = await self._pool.fetchrow(_RECORD, ledger_key, request.topic_id, request.key, request.reason,
                                        request.org, request.amount, request.unit, request.granted_at)
        if row["status"] == "released":  # an earlier attempt got through and crashed before answering
            return ReleaseRewardOutput(released=True, reference=row["reference"])
        try:
            reference = await _with_heartbeats(self._pay(ledger_key, request))
        except PayoutRefused as refusal:
            await self._pool.execute(_SETTLE, ledger_key, "refused", "", str(refusal))
            bound.warning("reward_refused", error=str(refusal))
            return ReleaseRewardOutput(released=False, error=str(refusal))
        await self._pool.execute(_SETTLE, ledger_key, "released", reference, "")
        bound.info("reward_released", amount=request.amount, unit=request.unit, org=request.org)
        return ReleaseRewardOutput(released=True, reference=reference)

    async def _pay(self, ledger_key: str, request: ReleaseRewardInput) -> str:
        """POST the payout; 5xx and network errors raise (the activity retries), 4xx is a refusal."""
        if not self._webhook_url:
            return f"ledger:{ledger_key}"
        payout = {"idempotency_key": ledger_key, "topic_id": request.topic_id, "reward": request.key,
                  "reason": request.reason, "org": request.org, "amount": request.amount, "unit": request.unit}
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self._webhook_url, json=payout, headers={"Idempotency-Key": ledger_key})
        if 400 <= response.status_code < 500:
            raise PayoutRefused(f"the payout system refused it: HTTP {response.status_code} {response.text[:200]}")
        response.raise_for_status()
        return response.headers.get("X-Payout-Reference") or f"webhook:{ledger_key}"
