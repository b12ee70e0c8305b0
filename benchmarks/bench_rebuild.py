"""3. Projection rebuild: `lingti projections rebuild` (all read models, from position 0) over the generated log,
against the limit of its own stack: reading the same rows, in the same order and batches, with asyncpg and
json.loads of data and metadata, in-process.

- rebuild rate = events / wall time of the command (process start to exit, switch included);
- peak RSS = the rebuild's maximum resident set: `ru_maxrss` of `os.wait4` on it (which also covers the worker
  processes it waits for, one at a time), and the peak of the summed RSS of its process tree sampled every 50 ms
  (what the machine had to hold at once): the figure is the larger of the two.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import asyncpg
import psutil

from benchmarks.options import Options
from benchmarks.scale import ScaleData, rebuild_command, scale_data, warm_bytecode
from benchmarks.stats import Figure, Result, Spread

BATCH_SIZE = 2000  # `lingti projections rebuild`'s default --batch-size


async def run(stack, options: Options) -> Result:
    data = await scale_data(stack, options)
    result = Result("rebuild", f"Projection rebuild of {data.events:,} events ({data.topics:,} topics)",
                    parameters={"events": data.events, "topics": data.topics, "reps": options.reps,
                                "batch_size": BATCH_SIZE, "cpus": os.cpu_count()})
    await warm_bytecode(stack, data.url)
    rates, peaks, details = [], [], []
    for rep in range(options.reps):
        seconds, maxrss_mb, tree_mb, code = await _timed_rebuild(stack, data, rep)
        if code != 0:
            raise RuntimeError(f"lingti projections rebuild exited with {code}; see {stack.root}/rebuild-{rep}.log")
        data.projected = True
        rates.append(data.events / seconds)
        peaks.append(max(maxrss_mb, tree_mb))
        details.append({"seconds": round(seconds, 2), "ru_maxrss_mb": round(maxrss_mb, 1),
                        "tree_peak_mb": round(tree_mb, 1)})
    raw = [await raw_read(data.url, BATCH_SIZE) for _ in range(options.reps)]
    raw_rates = [count / seconds for count, seconds in raw]
    result.add(Figure("rebuild rate", "ev/s", Spread.of(rates), floor=Spread.of(raw_rates),
                      floor_name="raw read+decode", better="higher", ratio_target=0.4, absolute_target=100_000,
                      digits=0, note="`lingti projections rebuild` with its default --workers (one per CPU for a "
                                     "log this size); the limit reads on one connection"))
    result.add(Figure("rebuild peak RSS", "MB", Spread.of(peaks), better="lower", absolute_target=300))
    result.details = {"runs": details, "raw_read": [{"events": c, "seconds": round(s, 2)} for c, s in raw],
                      "scale": data.describe()}
    return result


async def _timed_rebuild(stack, data: ScaleData, rep: int) -> tuple[float, float, float, int]:
    """(wall seconds, ru_maxrss MB, peak summed RSS of the process tree MB, exit code) of one rebuild."""
    log = (stack.root / f"rebuild-{rep}.log").open("ab")
    started = time.perf_counter()
    process = subprocess.Popen(rebuild_command(), env=stack.environment(data.url), stdout=log, stderr=log)
    peak = [0.0]
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(_sample_tree(process.pid, peak, stop))
    try:
        _, status, usage = await asyncio.to_thread(os.wait4, process.pid, 0)
    finally:
        stop.set()
        await sampler
        log.close()
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return seconds, usage.ru_maxrss / 1024, peak[0], process.returncode


async def _sample_tree(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            for proc in [root, *root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak[0] = max(peak[0], total / 2**20)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.05)
        except asyncio.TimeoutError:
            pass


async def raw_read(url: str, batch_size: int) -> tuple[int, float]:
    """(events, seconds): the rebuild's own read of the log (`projections.rebuild.raw_read_query`), with
    asyncpg's plain text codecs and json.loads of data and metadata: what a rebuild cannot beat."""
    from projections.rebuild import raw_read_batches

    loads = json.loads
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        count = 0
        async for rows in raw_read_batches(conn, batch_size):
            for row in rows:
                loads(row["data"])
                loads(row["metadata"])
            count += len(rows)
        return count, time.perf_counter() - started
    finally:
        await conn.close()
