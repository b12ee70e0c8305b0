"""`lingti projections …`: how far each read model is behind, and blue/green rebuilds (projections/rebuild.py)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

import typer

projections_app = typer.Typer(help="Read models: lag, leadership, rebuild.", no_args_is_help=True)


def _settings(process: str):
    from lingti.cli import _operator_settings  # late: lingti.cli imports this module

    return _operator_settings(process)


@projections_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the full status as JSON.")] = False,
) -> None:
    """Each read model's checkpoint, lag (events, seconds), leader and any transaction holding it back.

    Exit status 1 when a read model is stalled (what makes /v1/health answer 503), else 0.
    """
    from lingti.bootstrap import open_pool
    from projections.status import projection_status

    settings = _settings("projections-status")

    async def run() -> list[dict]:
        pool = await open_pool(settings)
        try:
            return await projection_status(pool)
        finally:
            await pool.close()

    rows = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(_table(rows))
    if any(r["status"] == "stalled" for r in rows):
        raise typer.Exit(1)


def _table(rows: list[dict]) -> str:
    header = ("projection", "status", "behind", "seconds", "held back", "position", "leader")
    lines = [header]
    for r in rows:
        leader = (r["leader"]["application_name"] or f"pid {r['leader']['pid']}") if r["leader"] else "-"
        state = r["status"] + (f" ({r['reason']})" if r["reason"] else "")
        lines.append((r["name"], state, str(r["events_behind"]), f"{r['seconds_behind']:.1f}", str(r["held_back"]),
                      str(r["global_position"]), leader))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines]
    for r in rows:
        if r["blocker"]:
            b = r["blocker"]
            if b.get("kind") == "prepared_transaction":
                text.append(f"{r['name']}: held back by prepared transaction {b['gid']!r} "
                            f"({b['xact_seconds']:.0f} s old); COMMIT PREPARED or ROLLBACK PREPARED it")
            else:
                age = f"{b['xact_seconds']:.0f} s" if b.get("xact_seconds") is not None else "unknown age"
                text.append(f"{r['name']}: held back by backend pid {b['pid']} ({b.get('state')}, transaction {age}, "
                            f"{b.get('application_name') or '?'}@{b.get('datname') or '?'}): "
                            f"SELECT pg_terminate_backend({b['pid']}) ends it")
    return "\n".join(text)


@projections_app.command("rebuild")
def rebuild(
    name: Annotated[str | None, typer.Argument(help="One read model (e.g. topic_list); all when omitted.")] = None,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Events per read while building (per transaction while catching up the tail).")] = 2000,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Processes folding the streams in parallel (default: 1 for a small log, one per CPU up to 4"
                    " for a large one).")] = None,
) -> None:
    """Rebuild read models from the start of the log into fresh tables, then switch over atomically.

    The live tables keep answering during the build; readers never see partial data. Safe beside running
    projectors; only one rebuild runs at a time.
    """
    from eventstore.connection import create_pool
    from lingti.bootstrap import database_url
    from projections.read_models import default_projections
    from projections.rebuild import RebuildBusy, suggested_workers
    from projections.rebuild import rebuild as run_rebuild

    known = {p.name: p for p in default_projections()}
    if name is not None and name not in known:
        raise typer.BadParameter(f"unknown read model {name!r}; known: {', '.join(sorted(known))}",
                                 param_hint="NAME")
    chosen = [known[name]] if name is not None else list(known.values())
    settings = _settings("projections-rebuild")
    started = time.monotonic()
    last_report = [started]

    def progress(phase: str, events: int) -> None:
        now = time.monotonic()
        if phase != "build" or now - last_report[0] >= 2:
            last_report[0] = now
            typer.echo(f"{phase}: {events} events applied ({now - started:.1f} s)", err=True)

    async def run() -> int:
        pool = await create_pool(database_url(settings), min_size=1, max_size=4)  # lock, read, write: 3 at most
        try:
            chosen_workers = workers or await suggested_workers(pool)
            return await run_rebuild(pool, chosen, batch_size=batch_size, progress=progress, workers=chosen_workers,
                                     dsn=database_url(settings))
        finally:
            await pool.close()

    try:
        applied = asyncio.run(run())
    except RebuildBusy as error:
        typer.echo(f"lingti: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"rebuilt {', '.join(p.name for p in chosen)} from {applied} events in "
               f"{time.monotonic() - started:.1f} s and switched over")
