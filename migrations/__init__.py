"""Alembic migrations for Lingti, run programmatically (no alembic.ini)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent

_SQLALCHEMY_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}


def to_sqlalchemy_url(url: str) -> str:
    """Turn a libpq/asyncpg URL (``postgresql://…``) into ``postgresql+asyncpg://…``.

    The query (e.g. ``?host=/socket/dir``) is kept; libpq's ``sslmode`` becomes asyncpg's ``ssl`` keyword.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not (scheme.startswith("postgresql+") or scheme in _SQLALCHEMY_SCHEMES):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    query = "&".join(
        "ssl=" + item.partition("=")[2] if item.startswith("sslmode=") else item
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, query, parts.fragment))


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config built in code; the URL travels in ``attributes`` (no ini interpolation of ``%``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    if database_url is not None:
        cfg.attributes["database_url"] = to_sqlalchemy_url(database_url)
    return cfg


def upgrade_to_head(database_url: str) -> None:
    """Upgrade the database at ``database_url`` to the newest revision (blocking).

    Alembic runs in a helper thread: env.py drives the async engine with ``asyncio.run``, which must neither
    meet a running loop nor reset the calling thread's current event loop.
    """
    cfg = alembic_config(database_url)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(cfg, "head")
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=run, name="alembic-upgrade")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


async def upgrade_to_head_async(database_url: str) -> None:
    """Awaitable ``upgrade_to_head`` that does not block the event loop."""
    await asyncio.to_thread(upgrade_to_head, database_url)
