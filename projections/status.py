"""How far each read model is behind the log: for health checks and metrics."""

from __future__ import annotations

from typing import Any

import asyncpg

from eventstore import EventStore, Position


async def projection_status(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Each read model's checkpoint and how many committed events it has still to apply."""
    store = EventStore(pool)
    rows = await pool.fetch("SELECT name, tx_id, global_position, updated_at FROM projection_checkpoints ORDER BY name")
    status = []
    for row in rows:
        lag = await store.head_lag(Position(row["tx_id"], row["global_position"]))
        status.append({"name": row["name"], "global_position": row["global_position"],
                       "updated_at": row["updated_at"].isoformat(), "events_behind": lag.events_behind})
    return status
