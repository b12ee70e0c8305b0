"""The composition root: the one place that names concrete adapters.

`lingti api`, `lingti worker`, `lingti projector`, `lingti dev` and the tests
build their PostgreSQL pool, SQLAlchemy engine, Temporal client, worker and
FastAPI app here. Other packages are imported inside the functions so this
module imports even while a part is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

from lingti.settings import (
    ConfigurationError,
    Settings,
    require_database_url,
    require_temporal_address,
    resolve_jwt_secret,
)

if TYPE_CHECKING:
    import asyncpg
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine
    from temporalio.client import Client
    from temporalio.worker import Worker


def database_url(settings: Settings) -> str:
    """The configured URL; in dev mode, else the embedded PostgreSQL a running `lingti dev` started."""
    if settings.database_url or not settings.is_dev:
        return require_database_url(settings)
    from lingti.devstack import running_postgres_url

    url = running_postgres_url(settings.data_dir)
    if url is None:
        raise ConfigurationError(
            f"no embedded PostgreSQL is running in {settings.data_dir.resolve() / 'pg'}; "
            "start `lingti dev` first or set LINGTI_DATABASE_URL"
        )
    return url


def temporal_address(settings: Settings) -> str:
    """The configured address; in dev mode, else the dev server `lingti dev` starts on 127.0.0.1."""
    if settings.temporal_address or not settings.is_dev:
        return require_temporal_address(settings)
    return f"127.0.0.1:{settings.temporal_port}"


async def open_pool(settings: Settings) -> asyncpg.Pool:
    from eventstore.connection import create_pool

    return await create_pool(database_url(settings))


def create_engine(settings: Settings) -> AsyncEngine:
    from migrations import to_sqlalchemy_url
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(to_sqlalchemy_url(database_url(settings)), pool_pre_ping=True)


async def connect_temporal(settings: Settings) -> Client:
    from temporalio.client import Client

    return await Client.connect(temporal_address(settings), namespace=settings.temporal_namespace)


def build_worker(client: Client, store, settings: Settings) -> Worker:
    """The worker hosting TopicWorkflow and its activities (append_events, release_reward) on the task queue.

    TopicWorkflow runs append_events as a local activity (in this same worker, within the command's workflow task)
    since the "local-append" patch, and as a regular one when replaying older histories: it must be registered here
    either way."""
    from activities.events import EventActivities
    from activities.rewards import RewardActivities
    from temporalio.worker import Worker
    from workflows.topic import TopicWorkflow

    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[TopicWorkflow],
        activities=[EventActivities(store).append_events,
                    RewardActivities(store.pool, settings.reward_webhook_url).release_reward],
    )


async def run_worker(settings: Settings, stop: asyncio.Event, client: Client | None = None) -> None:
    """Poll the task queue until `stop` is set, then finish in-flight tasks and return."""
    from eventstore import EventStore

    pool = await open_pool(settings)
    try:
        client = client or await connect_temporal(settings)
        async with build_worker(client, EventStore(pool), settings):
            await stop.wait()
    finally:
        await pool.close()


async def run_projector(settings: Settings, stop: asyncio.Event) -> None:
    """Keep the read models up to date with the event log until `stop` is set; record the daily audit anchor.

    `LINGTI_PROJECTOR_BATCH_SIZE` (default 500) sets how many events one transaction applies.
    """
    import os

    from eventstore.audit import record_anchor
    from eventstore.connection import create_pool
    from projections.runner import Projector, projector_identity

    identity = projector_identity()
    batch_size = int(os.environ.get("LINGTI_PROJECTOR_BATCH_SIZE") or 500)
    pool = await create_pool(database_url(settings),
                             server_settings={"application_name": f"lingti-projector:{identity}"})
    try:
        await Projector(pool, batch_size=batch_size, timezone=settings.timezone, record_anchor=record_anchor,
                        identity=identity).run(stop)
    finally:
        await pool.close()


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI app; configuration errors surface here, before the server listens."""
    from api.app import create_app

    jwt_secret = resolve_jwt_secret(settings)
    database_url(settings)
    temporal_address(settings)
    return create_app(partial(api_resources, settings, jwt_secret))


@asynccontextmanager
async def api_resources(settings: Settings, jwt_secret: str) -> AsyncIterator:
    """Open the pool, engine and Temporal client the API needs; close them on the way out."""
    from api.context import ApiContext

    pool = await open_pool(settings)
    engine = create_engine(settings)
    try:
        client = await connect_temporal(settings)
        yield ApiContext(
            temporal=client,
            task_queue=settings.task_queue,
            engine=engine,
            pool=pool,
            jwt_secret=jwt_secret,
            timezone=settings.timezone,
            policy=settings.control_policy(),
            board_red_share=settings.board_red_share,
            board_blue_share=settings.board_blue_share,
        )
    finally:
        await engine.dispose()
        await pool.close()
