"""Rebuild read models from position 0: reset their checkpoints and empty their tables atomically, then catch up.

Readers see empty tables until the catch-up is done (a blue/green rebuild is a later step).
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
import structlog

from projections import checkpoints
from projections.base import Projection
from projections.read_models import default_projections
from projections.runner import Projector

log = structlog.get_logger(__name__)


async def rebuild(pool: asyncpg.Pool, projections: Iterable[Projection] | None = None, batch_size: int = 500) -> int:
    """Returns the number of log events applied. Safe beside a running projector: its in-flight batch finds
    the checkpoint moved and is dropped."""
    chosen = list(projections) if projections is not None else default_projections()
    tables = ", ".join(f'"{table}"' for p in chosen for table in p.tables)
    async with pool.acquire() as conn, conn.transaction():
        await checkpoints.reset(conn, (p.name for p in chosen))  # checkpoint rows first, like the projector
        await conn.execute(f"TRUNCATE {tables}")
    log.info("rebuild_started", projections=[p.name for p in chosen])
    applied = await Projector(pool, chosen, batch_size=batch_size).catch_up()
    log.info("rebuild_finished", events=applied)
    return applied
