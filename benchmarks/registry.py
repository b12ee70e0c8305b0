"""The benchmarks, in the order a run takes them; each module has `async def run(stack, options) -> Result`."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from benchmarks.options import Options
from benchmarks.stack import BenchStack
from benchmarks.stats import Result

Benchmark = Callable[[BenchStack, Options], Awaitable[Result]]

MODULES = {
    "append": "benchmarks.bench_append",        # event store append vs raw INSERT
    "commands": "benchmarks.bench_commands",    # HTTP lifecycle vs bare Temporal update floors
    "footprint": "benchmarks.bench_footprint",  # 10,000 open workflows: worker RSS, server CPU
    "rebuild": "benchmarks.bench_rebuild",      # 1M-event log: projection rebuild vs raw read+decode
    "reports": "benchmarks.bench_reports",      # report queries at 30,000 topics over HTTP
    "verify": "benchmarks.bench_verify",        # hash-chain verification rate
}
NAMES: list[str] = list(MODULES)


def load(name: str) -> Benchmark:
    return importlib.import_module(MODULES[name]).run
