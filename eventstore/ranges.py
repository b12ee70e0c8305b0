"""Splitting the log into ranges of streams, each checked or folded in a process of its own (verify, rebuild)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import asyncpg

SAMPLE_ROWS = 200_000  # enough rows to place the range bounds; a bigger log is sampled down to about this many

Range = tuple[str | None, str | None]


async def stream_bounds(conn: asyncpg.Connection, parts: int) -> list[str]:
    """Stream ids splitting the log into about `parts` ranges with similar numbers of events (from a sample)."""
    estimate = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass")
    percent = 100.0 if not estimate or estimate <= SAMPLE_ROWS else max(0.01, 100.0 * SAMPLE_ROWS / estimate)
    rows = await conn.fetch(
        "SELECT DISTINCT b FROM (SELECT unnest(percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY stream_id)) AS b"
        " FROM events TABLESAMPLE SYSTEM ($2)) s WHERE b IS NOT NULL ORDER BY b",
        [i / parts for i in range(1, parts)], percent,
    )
    return [row[0] for row in rows]


async def run_range_workers(entry: str, task: dict[str, Any], ranges: list[Range], what: str) -> list[dict[str, Any]]:
    """Run `entry` (a module's function, e.g. "projections.rebuild:_range_worker") once per range, each in a
    process of its own started with `python -c` importing only that module (a `multiprocessing` child would first
    import the parent program's `__main__`, the whole CLI). The task plus its range travels on stdin as JSON; the
    answer is the JSON on the last line of stdout (any log above it is ignored)."""
    module, function = entry.split(":")
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", f"from {module} import {function}; {function}()",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in ranges
    ]
    try:
        outputs = await asyncio.gather(*(
            process.communicate(json.dumps({**task, "low": low, "high": high}).encode())
            for process, (low, high) in zip(processes, ranges, strict=True)
        ))
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    answers = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"a {what} worker failed ({process.returncode}): {err.decode(errors='replace')[-2000:]}")
        answers.append(json.loads(out.decode().strip().splitlines()[-1]))
    return answers
