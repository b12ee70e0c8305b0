"""The running stack as a test sees it: an HTTP client against the real API, tokens, and read-model waits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt

from eventstore import EventStore, Position

JWT_SECRET = "e2e-test-secret-" + "x" * 40
WAIT_TIMEOUT = 15.0

ORG_TREE = [
    ("HQ", "集团公司", "hq"),
    ("HQ/SX", "山西省分公司", "province"),
    ("HQ/SX/TY", "太原市分公司", "city"),
    ("HQ/SX/TY/B017", "太原第十七党支部", "branch"),
    ("HQ/SX/TY/B018", "太原第十八党支部", "branch"),
    ("HQ/SX/DT", "大同市分公司", "city"),
    ("HQ/SX/DT/B001", "大同第一党支部", "branch"),
    ("HQ/BJ", "北京市分公司", "province"),
    ("HQ/BJ/C1", "北京东城区分公司", "city"),
    ("HQ/BJ/C1/B1", "东城第一党支部", "branch"),
]


def token(role: str, org: str, sub: str | None = None, *, ttl: timedelta = timedelta(hours=1),
          secret: str = JWT_SECRET, **claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {"sub": sub or f"{role}@{org}", "role": role, "org": org, "name": sub or f"{role} {org}",
               "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(role: str, org: str, sub: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, org, sub)}"}


@dataclass
class Stack:
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    _store: EventStore = field(init=False)

    def __post_init__(self) -> None:
        self._store = EventStore(self.pool)

    async def as_(self, who: dict[str, str], method: str, path: str, *, json: Any = None,
                  key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**who, **({"Idempotency-Key": key} if key else {}), **kw.pop("headers", {})}
        return await self.http.request(method, path, json=json, headers=headers, **kw)

    async def event_count(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM events")

    async def projected_version(self, topic_id: str) -> int:
        return await self.pool.fetchval("SELECT version FROM topics WHERE topic_id = $1", topic_id) or 0

    async def wait_for_version(self, topic_id: str, version: int, timeout: float = WAIT_TIMEOUT) -> None:
        """Bounded poll until the topic read model has reached `version`."""
        deadline = time.monotonic() + timeout
        while (current := await self.projected_version(topic_id)) < version:
            assert time.monotonic() < deadline, f"read model of {topic_id} stuck at {current}, wanted {version}"
            await asyncio.sleep(0.05)

    async def wait_until_projected(self, timeout: float = WAIT_TIMEOUT) -> None:
        """Bounded poll until every read model has applied every committed event."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.pool.fetch("SELECT tx_id, global_position FROM projection_checkpoints")
            lags = [await self._store.head_lag(Position(r["tx_id"], r["global_position"])) for r in rows]
            if rows and all(lag.events_behind == 0 for lag in lags):
                return
            assert time.monotonic() < deadline, f"projector still behind: {lags}"
            await asyncio.sleep(0.05)
