"""How far each read model is behind the log, why, and who is working on it: for health checks and metrics.

Per read model (one row of `projection_checkpoints`):

- `events_behind`: committed events after its checkpoint; `seconds_behind`: age of the oldest of them
  (`recorded_at`), 0 when there is none.
- `held_back`: those of them the gap-free rule cannot hand out yet, because a transaction that started earlier
  (it holds the snapshot's xmin) is still open; `seconds_held_back`: the oldest such event's age.
- `leader`: the projector process holding the read model's leadership lock (`pid`, `application_name`), or None.
- `blocker`: when events are held back, the backend whose open transaction holds them back (pid, state,
  transaction age, application, database, the start of its query), or a prepared transaction.
- `status`:
  - `ok`: nothing has been waiting for `LAG_WARN_SECONDS` or longer;
  - `lagging`: something has (`reason`: `held_back` by an open transaction, `no_projector` leading it, or
    `catching_up`); the read model still answers, only late;
  - `stalled`: events readable for `STALLED_SECONDS` or longer and the checkpoint has not moved for as long:
    no projector is applying them (none running, or it fails on every batch). /v1/health answers 503 then.
    Events held back by a long transaction never make a read model `stalled`: the projector is fine and a
    restart would not help; end the transaction (`blocker.pid`) or set `idle_in_transaction_session_timeout`.

Seeing other sessions' state and query in `pg_stat_activity` needs the same role or `pg_read_all_stats`;
without it the blocker's pid and transaction age may be missing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from projections.leadership import leaders

LAG_WARN_SECONDS = 10.0
STALLED_SECONDS = 300.0

_CHECKPOINTS = """
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT c.name, c.tx_id, c.global_position, c.updated_at, c.applied_by, now() AS now,
       lag.events_behind, lag.oldest_at, lag.held_back, lag.oldest_held_back_at, lag.oldest_readable_at
FROM projection_checkpoints c
CROSS JOIN horizon h
CROSS JOIN LATERAL (
    SELECT count(*) AS events_behind,
           min(e.recorded_at) AS oldest_at,
           count(*) FILTER (WHERE e.tx_id >= h.xmin) AS held_back,
           min(e.recorded_at) FILTER (WHERE e.tx_id >= h.xmin) AS oldest_held_back_at,
           min(e.recorded_at) FILTER (WHERE e.tx_id < h.xmin) AS oldest_readable_at
    FROM events e
    WHERE (e.tx_id, e.global_position) > (c.tx_id::text::xid8, c.global_position)
) AS lag
ORDER BY c.name
"""

# The open transaction that holds the readable horizon: the oldest running top-level transaction id.
_BLOCKER = """
SELECT a.pid, a.state, a.datname, a.usename, a.application_name, a.backend_xid::text AS xid,
       a.xact_start, extract(epoch FROM now() - a.xact_start)::float8 AS xact_seconds,
       extract(epoch FROM now() - a.state_change)::float8 AS state_seconds, left(a.query, 200) AS query
FROM pg_stat_activity a
WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
ORDER BY age(a.backend_xid) DESC
LIMIT 1
"""
_PREPARED_BLOCKER = """
SELECT gid, owner, database, prepared, extract(epoch FROM now() - prepared)::float8 AS xact_seconds
FROM pg_prepared_xacts ORDER BY age(transaction) DESC LIMIT 1
"""


def _seconds(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


async def projection_status(pool: asyncpg.Pool | asyncpg.Connection) -> list[dict[str, Any]]:
    """Each read model's checkpoint, lag, leader and (when held back) the blocking transaction."""
    rows = await pool.fetch(_CHECKPOINTS)
    holders = await leaders(pool, [r["name"] for r in rows]) if rows else {}
    blocker = await _blocker(pool) if any(r["held_back"] for r in rows) else None
    return [_status(row, holders.get(row["name"]), blocker) for row in rows]


def _status(row: asyncpg.Record, leader: dict | None, blocker: dict | None) -> dict[str, Any]:
    now = row["now"]
    seconds_behind = _seconds(now, row["oldest_at"])
    held_seconds = _seconds(now, row["oldest_held_back_at"])
    readable_seconds = _seconds(now, row["oldest_readable_at"])
    idle_seconds = _seconds(now, row["updated_at"])
    status, reason = "ok", None
    if readable_seconds >= STALLED_SECONDS and idle_seconds >= STALLED_SECONDS:
        status, reason = "stalled", "no_projector" if leader is None else "not_applying"
    elif seconds_behind >= LAG_WARN_SECONDS:
        status = "lagging"
        if held_seconds >= LAG_WARN_SECONDS and readable_seconds < LAG_WARN_SECONDS:
            reason = "held_back"
        elif leader is None:
            reason = "no_projector"
        else:
            reason = "catching_up"
    return {
        "name": row["name"],
        "status": status,
        "reason": reason,
        "tx_id": row["tx_id"],
        "global_position": row["global_position"],
        "updated_at": row["updated_at"].isoformat(),
        "applied_by": row["applied_by"],
        "events_behind": row["events_behind"],
        "seconds_behind": round(seconds_behind, 3),
        "held_back": row["held_back"],
        "seconds_held_back": round(held_seconds, 3),
        "leader": leader,
        "blocker": blocker if row["held_back"] else None,
    }


async def _blocker(pool: asyncpg.Pool | asyncpg.Connection) -> dict[str, Any] | None:
    row = await pool.fetchrow(_BLOCKER)
    if row is not None:
        found = dict(row)
        found["xact_start"] = found["xact_start"].isoformat() if found["xact_start"] else None
        return {"kind": "backend", **found}
    prepared = await pool.fetchrow(_PREPARED_BLOCKER)
    if prepared is not None:
        return {"kind": "prepared_transaction", "gid": prepared["gid"], "owner": prepared["owner"],
                "database": prepared["database"], "xact_seconds": prepared["xact_seconds"]}
    return None
