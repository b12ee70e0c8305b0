"""GET /v1/health: 200 when PostgreSQL and Temporal answer and the read models are being kept up to date.

The projector part lists each read model's lag (`projections/status.py`): `ok`, `lagging` (still 200: the
answer says `"status": "lagging"` and why, e.g. the pid of a transaction holding events back) or `stalled`
(503: readable events have waited 5 minutes with the checkpoint not moving, i.e. no projector is applying them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.errors import error_response
from api.schemas.errors import error_responses
from api.services import Services
from projections.status import projection_status

router = APIRouter(prefix="/v1", tags=["health"])

CHECK_TIMEOUT = 3.0


async def check_postgres(services: Services) -> dict[str, Any]:
    await services.context.pool.fetchval("SELECT 1")
    return {}


async def check_temporal(services: Services) -> dict[str, Any]:
    client = services.context.temporal
    await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))
    return {"namespace": client.namespace, "task_queue": services.context.task_queue}


async def check_projector(services: Services) -> dict[str, Any]:
    """Each read model's checkpoint, lag (events and seconds), leader and, if any, the blocking transaction."""
    checkpoints = await projection_status(services.context.pool)
    stalled = [c["name"] for c in checkpoints if c["status"] == "stalled"]
    lagging = [c["name"] for c in checkpoints if c["status"] == "lagging"]
    lag = {c["name"]: {"status": c["status"], "events": c["events_behind"], "seconds": c["seconds_behind"]}
           for c in checkpoints}
    if stalled:
        return {"status": "failing", "reason": f"stalled: {', '.join(stalled)}", "lag": lag, "checkpoints": checkpoints}
    return {"status": "lagging" if lagging else "ok", "lag": lag, "checkpoints": checkpoints}


CHECKS: dict[str, Callable[[Services], Awaitable[dict[str, Any]]]] = {
    "postgres": check_postgres, "temporal": check_temporal, "projector": check_projector,
}


async def _run(check: Callable[[Services], Awaitable[dict[str, Any]]], services: Services) -> dict[str, Any]:
    try:
        return {"status": "ok", **await asyncio.wait_for(check(services), CHECK_TIMEOUT)}
    except Exception as error:  # noqa: BLE001 - any failure means the part is down; say which
        reason = f"no answer within {CHECK_TIMEOUT}s" if isinstance(error, TimeoutError) else type(error).__name__
        return {"status": "failing", "reason": reason}


@router.get("/health", responses={200: {"description": "every part answers (status ok, or lagging read models)"},
                                  **error_responses(503)})
async def health(services: ServicesDep) -> JSONResponse:
    """Per-part status of PostgreSQL, Temporal and the read models (lag in events and seconds per read model).

    200 with `"status": "lagging"` when a read model is behind by 10 s or more; 503 when a part fails or a
    read model is stalled (readable events waiting 5 minutes, checkpoint not moving)."""
    results = await asyncio.gather(*(_run(check, services) for check in CHECKS.values()))
    parts = dict(zip(CHECKS, results, strict=True))
    failing = [name for name, part in parts.items() if part["status"] == "failing"]
    if failing:
        return error_response(503, "health.failing", f"not ready: {', '.join(failing)} failing", {"parts": parts})
    lagging = any(part["status"] == "lagging" for part in parts.values())
    return JSONResponse({"status": "lagging" if lagging else "ok", "parts": parts})
