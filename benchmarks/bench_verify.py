"""5. Audit verify: `lingti audit verify --json` over the whole generated log (every hash chain recomputed from the
raw rows, anchors checked), as a user runs it: events / wall time of the command, process start included. Once with
the default number of processes (one per CPU for a log this size) and once with `--workers 2`."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from benchmarks.options import Options
from benchmarks.scale import scale_data, warm_bytecode
from benchmarks.stats import Figure, Result, Spread


async def run(stack, options: Options) -> Result:
    data = await scale_data(stack, options)
    result = Result("verify", f"Audit verify of {data.events:,} events ({data.topics:,} streams)",
                    parameters={"events": data.events, "streams": data.topics, "reps": options.reps})
    await warm_bytecode(stack, data.url)
    runs: dict[str, list[dict]] = {}
    for label, extra in (("default workers", []), ("--workers 2", ["--workers", "2"])):
        rates = []
        for _ in range(options.reps):
            seconds, report = await _verify(stack, data.url, extra)
            if not report.get("ok") or report.get("events") != data.events:
                raise RuntimeError(f"audit verify did not pass over the generated log: {report}")
            rates.append(data.events / seconds)
            runs.setdefault(label, []).append({"wall_seconds": round(seconds, 2), "verify_seconds": report["seconds"],
                                               "internal_rate": round(data.events / report["seconds"])})
        result.add(Figure(f"verify rate ({label})", "ev/s", Spread.of(rates), better="higher",
                          absolute_target=150_000, digits=0))
    result.details = {"runs": runs}
    return result


async def _verify(stack, url: str, extra: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lingti", "audit", "verify", "--json", *extra, env=stack.environment(url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode not in (0, 1):
        raise RuntimeError(f"lingti audit verify exited with {process.returncode}: {err.decode()[-2000:]}")
    return seconds, json.loads(out.decode().strip().splitlines()[-1])
