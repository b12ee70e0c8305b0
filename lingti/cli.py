"""The `lingti` command: the dev stack, the production entry points and admin tools."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from domain.actors import ROLES
from lingti.audit_cli import audit_app
from lingti.report_cli import report_app
from lingti.projections_cli import projections_app
from lingti.settings import ConfigurationError, Settings, load_settings

app = typer.Typer(
    help="Lingti (领题): every topic a durable workflow, every decision an event.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # plain tracebacks: no locals (secrets, URLs) in logs
)
orgs_app = typer.Typer(help="Organisation units.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(projections_app, name="projections")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")

Role = Enum("Role", {role: role for role in ROLES}, type=str)


def main() -> None:
    """Console-script entry: configuration errors become one clear line and exit code 2."""
    try:
        app()
    except ConfigurationError as error:
        print(f"lingti: configuration error: {error}", file=sys.stderr)
        sys.exit(2)


def _settings(process: str, **overrides: object) -> Settings:
    from lingti.logging import configure_logging

    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format, process=process)
    return settings


def _operator_settings(process: str) -> Settings:
    """Settings for the operator commands (token, orgs import): with LINGTI_MODE unset and a `lingti dev`
    data folder present, they act on that local dev stack, so a new user needs no extra variables."""
    from lingti.logging import configure_logging
    from lingti.settings import DEV_JWT_SECRET_FILE

    settings = load_settings()
    if "LINGTI_MODE" not in os.environ and (Path(settings.data_dir) / DEV_JWT_SECRET_FILE).exists():
        settings = load_settings(mode="dev")
    configure_logging(settings.log_level, settings.log_format, process=process)
    return settings


@app.command()
def dev() -> None:
    """Run everything on this machine (embedded PostgreSQL and Temporal unless configured).

    Applies migrations, then runs worker, projector and API as child processes.
    Ctrl-C stops it all; data stays in the data folder (LINGTI_DATA_DIR).
    """
    from lingti.dev_supervisor import run_dev_stack

    raise typer.Exit(run_dev_stack(_settings("dev", mode="dev")))


@app.command()
def api() -> None:
    """Serve the HTTP API (uvicorn on LINGTI_API_HOST:LINGTI_API_PORT)."""
    import uvicorn

    from lingti.bootstrap import build_api

    settings = _settings("api")
    uvicorn.run(build_api(settings), host=settings.api_host, port=settings.api_port, log_config=None)


@app.command()
def worker() -> None:
    """Run the Temporal worker hosting TopicWorkflow and its activities."""
    from lingti.bootstrap import run_worker

    _run_until_stopped(run_worker, _settings("worker"))


@app.command()
def projector() -> None:
    """Keep the read models up to date with the event log."""
    from lingti.bootstrap import run_projector

    _run_until_stopped(run_projector, _settings("projector"))


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    from migrations import upgrade_to_head

    from lingti.bootstrap import database_url

    upgrade_to_head(database_url(_settings("migrate")))


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="User id (the `sub` claim).")],
    role: Annotated[Role, typer.Option(help="The user's role.")],
    org: Annotated[str, typer.Option(help="Organisation path the user acts for, e.g. HQ/SX/TY/B017.")],
    name: Annotated[str | None, typer.Option(help="Display name (defaults to --sub).")] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime like 30m, 8h or 7d.")] = "8h",
) -> None:
    """Print a signed JWT (HS256) for the API (next to a `lingti dev` data folder: signed with its dev secret)."""
    from lingti.settings import resolve_jwt_secret
    from lingti.tokens import issue_token, parse_ttl

    try:
        lifetime = parse_ttl(ttl)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--ttl") from error
    secret = resolve_jwt_secret(_operator_settings("token"))
    try:
        typer.echo(issue_token(secret, sub=sub, role=role.value, org=org, name=name, ttl=lifetime))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@orgs_app.command("import")
def import_orgs(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with columns path,name,kind.")],
) -> None:
    """Create or update organisation units from a CSV file, parents before children."""
    from lingti.bootstrap import open_pool
    from lingti.org_import import OrgImportError, import_orgs, read_org_rows

    settings = _operator_settings("orgs-import")

    async def run() -> None:
        rows = read_org_rows(file)
        pool = await open_pool(settings)
        try:
            counts = await import_orgs(pool, rows)
        finally:
            await pool.close()
        typer.echo(f"{len(rows)} org units: {counts.inserted} inserted, {counts.updated} updated")

    try:
        asyncio.run(run())
    except OrgImportError as error:
        typer.echo(f"lingti: {file} was not imported; nothing changed:\n{error}", err=True)
        raise typer.Exit(1) from error


def _run_until_stopped(runner: Callable[[Settings, asyncio.Event], Awaitable[None]], settings: Settings) -> None:
    """Run a long-lived service; SIGINT/SIGTERM set its stop event so it can finish cleanly."""

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runner(settings, stop)

    asyncio.run(run())
