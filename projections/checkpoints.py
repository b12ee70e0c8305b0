"""Each read model's position in the global order, written in the same transaction as its rows."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from eventstore.position import Position


async def ensure(conn: asyncpg.Connection | asyncpg.Pool, names: Iterable[str]) -> None:
    """Create missing checkpoint rows at the start of the log (so they can be locked)."""
    await conn.execute(
        "INSERT INTO projection_checkpoints (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING",
        list(names),
    )


async def load(conn: asyncpg.Connection | asyncpg.Pool, name: str) -> Position:
    row = await conn.fetchrow("SELECT tx_id, global_position FROM projection_checkpoints WHERE name = $1", name)
    return Position(row["tx_id"], row["global_position"]) if row else Position.start()


async def lock(conn: asyncpg.Connection, name: str) -> Position | None:
    """Lock the checkpoint row for the rest of the transaction; None when it does not exist."""
    row = await conn.fetchrow(
        "SELECT tx_id, global_position FROM projection_checkpoints WHERE name = $1 FOR UPDATE", name
    )
    return Position(row["tx_id"], row["global_position"]) if row else None


async def save(conn: asyncpg.Connection, name: str, position: Position, applied_by: str | None = None) -> None:
    """Move the checkpoint; `applied_by` names the projector process (shown by `lingti projections status`)."""
    await conn.execute(
        "UPDATE projection_checkpoints SET tx_id = $2, global_position = $3, updated_at = now(), applied_by = $4 "
        "WHERE name = $1",
        name, position.tx_id, position.global_position, applied_by,
    )


async def reset(conn: asyncpg.Connection, names: Iterable[str]) -> None:
    names = list(names)
    await ensure(conn, names)
    await conn.execute(
        "UPDATE projection_checkpoints SET tx_id = 0, global_position = 0, updated_at = now() "
        "WHERE name = ANY($1::text[])",
        names,
    )
