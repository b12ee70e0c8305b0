"""`lingti report …`: the completion bulletin from the command line, read straight from the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

report_app = typer.Typer(help="Reports: the completion bulletin (通报).", no_args_is_help=True)


class Format(str, Enum):
    xlsx = "xlsx"
    csv = "csv"
    table = "table"


def _as_of(text: str | None, timezone: str) -> dt.datetime:
    """As the API reads `as_of`: a date is the end of that day in `timezone`."""
    from fastapi.exceptions import RequestValidationError

    from api.routes.reports import parse_as_of

    try:
        return parse_as_of(text, timezone)
    except RequestValidationError as error:
        raise typer.BadParameter(error.errors()[0]["msg"], param_hint="--as-of") from None


async def _load_bulletin(settings: Any, org: str, as_of: dt.datetime) -> dict[str, Any]:
    from lingti.bootstrap import create_engine
    from projections.queries.levels import CompletionLevels

    engine = create_engine(settings)
    try:
        return await CompletionLevels(engine).bulletin(org, as_of)
    finally:
        await engine.dispose()


@report_app.command("completion")
def completion(
    org: Annotated[str, typer.Option(help="The unit whose subtree is counted, e.g. HQ or HQ/SX.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="A date (the end of that day in LINGTI_TIMEZONE) "
                                              "or a datetime; default now.")] = None,
    format: Annotated[Format, typer.Option("--format", help="xlsx (one sheet per level), csv (one table) or "
                                           "table (aligned text).")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write to this file; "
                                                "default: stdout (xlsx: a file named after the org and date).")]
    = None,
) -> None:
    """The completion bulletin of a subtree as of a date: per level (省公司, 市公司, 支部…) claimed, concluded,
    in progress and withdrawn topics, completion rate and coverage, with totals; the same numbers as the API."""
    from api.exports import bulletin_csv, bulletin_filename, bulletin_table, bulletin_xlsx
    from domain.orgs import is_valid_path
    from lingti.cli import _operator_settings

    if not is_valid_path(org):
        raise typer.BadParameter(f"{org!r} is not an org path like HQ/SX/TY/B017", param_hint="--org")
    settings = _operator_settings("report")
    bulletin = asyncio.run(_load_bulletin(settings, org, _as_of(as_of, settings.timezone)))
    tz = settings.timezone
    if format is Format.xlsx:
        target = output or Path(bulletin_filename(bulletin, tz, "xlsx")[1])
        target.write_bytes(bulletin_xlsx(bulletin, tz))
        typer.echo(f"wrote {target}", err=True)
        return
    content = bulletin_csv(bulletin) if format is Format.csv else bulletin_table(bulletin, tz)
    if output is not None:
        output.write_text(content, encoding="utf-8", newline="")
        typer.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(content.removeprefix("\ufeff"))
