"""`lingti audit …`: verify the log's hash chains and anchors, record and list anchors (see eventstore/audit.py).

Only the database is needed (LINGTI_DATABASE_URL, or a running `lingti dev`): no JWT secret, no Temporal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

audit_app = typer.Typer(
    help="Tamper evidence: recompute the event log's hash chains and check the daily anchors.",
    no_args_is_help=True,
)

SHOWN_BREAKS = 20
EXIT_BROKEN = 1
EXIT_NOT_FOUND = 2

T = TypeVar("T")


def _with_pool(process: str, work: Callable[..., Awaitable[T]]) -> T:
    from eventstore.connection import create_pool
    from lingti.bootstrap import database_url
    from lingti.cli import _operator_settings

    settings = _operator_settings(process)

    async def run() -> T:
        pool = await create_pool(database_url(settings), min_size=1, max_size=4)  # one command: few connections
        try:
            return await work(pool, settings)
        finally:
            await pool.close()

    return asyncio.run(run())


@audit_app.command()
def verify(
    topic: Annotated[str | None, typer.Option(
        help="Only this topic's stream (topic-<ID>) and its anchor entries.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream id (any stream, not just topics).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Processes checking the chains in parallel (default: 1 for a small log, one per CPU up to 8"
                    " for a large one).")] = None,
) -> None:
    """Recompute every hash chain from the raw events and check every anchor.

    Exit status 0: intact (one summary line); 1: a break (each named by stream and version, first first);
    2: the topic or stream has no events and no anchor names it.
    """
    from eventstore.audit import suggested_workers, verify_log
    from projections.base import TOPIC_STREAM_PREFIX

    if topic is not None and stream is not None:
        raise typer.BadParameter("give --topic or --stream, not both")
    stream_id = TOPIC_STREAM_PREFIX + topic if topic is not None else stream

    async def work(pool, settings):
        from lingti.bootstrap import database_url

        chosen = workers or (1 if stream_id is not None else await suggested_workers(pool))
        return await verify_log(pool, stream_id, workers=chosen, dsn=database_url(settings))

    report = _with_pool("audit", work)
    if as_json:
        typer.echo(json.dumps({
            "ok": report.ok, "stream_id": report.stream_id, "streams": report.streams, "events": report.events,
            "anchors": report.anchors, "seconds": round(report.seconds, 3), "breaks_total": report.breaks_total,
            "breaks": [{"stream_id": b.stream_id, "version": b.version, "reason": b.reason,
                        "anchor_date": b.anchor_date.isoformat() if b.anchor_date else None} for b in report.breaks],
        }, ensure_ascii=False))
    else:
        for item in report.breaks[:SHOWN_BREAKS]:
            typer.echo(f"BROKEN {item}")
        if report.breaks_total > SHOWN_BREAKS:
            typer.echo(f"… and {report.breaks_total - SHOWN_BREAKS} more breaks")
        typer.echo(report.summary() + (f" ({report.events_per_second:,.0f} events/s)" if report.ok else ""))
    if not report.ok:
        raise typer.Exit(EXIT_BROKEN)
    if stream_id is not None and report.events == 0 and report.anchors == 0:
        typer.echo(f"lingti: no events and no anchors for stream {stream_id}", err=True)
        raise typer.Exit(EXIT_NOT_FOUND)


@audit_app.command()
def anchor(
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today in LINGTI_TIMEZONE).")] = None,
) -> None:
    """Record the anchor of a day now (the projector does this daily); a day keeps its first anchor."""
    from zoneinfo import ZoneInfo

    from eventstore.audit import list_anchors, record_anchor

    async def work(pool, settings):
        chosen = dt.date.fromisoformat(day) if day else dt.datetime.now(ZoneInfo(settings.timezone)).date()
        recorded = await record_anchor(pool, chosen)
        return recorded, next(a for a in await list_anchors(pool) if a.anchor_date == chosen)

    if day is not None:
        try:
            dt.date.fromisoformat(day)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--date") from error
    recorded, row = _with_pool("audit", work)
    typer.echo(f"anchor {row.anchor_date} {'recorded' if recorded else 'already recorded'}: {row.streams} streams,"
               f" {row.events} events, digest {row.heads_digest.hex()}")


@audit_app.command()
def anchors() -> None:
    """List the anchors (date, time recorded, streams, events, digest) to compare with copies kept elsewhere."""
    from eventstore.audit import list_anchors

    rows = _with_pool("audit", lambda pool, _settings: list_anchors(pool))
    for row in rows:
        typer.echo(f"{row.anchor_date}  {row.created_at.isoformat(timespec='seconds')}  {row.streams} streams"
                   f"  {row.events} events  {row.heads_digest.hex()}")
