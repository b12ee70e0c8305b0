"""The whole stack, for real, over HTTP: a fresh migrated database, the session's Temporal dev server, a worker
on a fresh task queue, the projector as an asyncio task, and the API served by uvicorn on a free port."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from lingti.bootstrap import build_api
from lingti.settings import Settings
from projections.runner import Projector
from tests.e2e.stack import JWT_SECRET, ORG_TREE, Stack, bearer

STARTUP_TIMEOUT = 20.0


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _serve(app, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task]:
    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if task.done():
            task.result()  # raises what stopped the start
            raise RuntimeError("the API server stopped during start-up")
        assert time.monotonic() < deadline, "the API server did not start"
        await asyncio.sleep(0.02)
    return server, task


async def seed_orgs(stack: Stack, tree=ORG_TREE) -> None:
    admin = bearer("admin", "HQ", "admin")
    for path, name, kind in tree:
        response = await stack.as_(admin, "POST", "/v1/orgs", json={"path": path, "name": name, "kind": kind})
        assert response.status_code == 201, response.text


@pytest.fixture
async def stack(database_url, pool, temporal_env, task_queue, worker) -> AsyncIterator[Stack]:
    settings = Settings(
        mode="production", database_url=database_url, task_queue=task_queue, jwt_secret=JWT_SECRET,
        temporal_address=temporal_env.client.service_client.config.target_host,
        posting_period="PT0S",  # 公示 ends at once: an approved conclusion is concluded by the workflow's timer
    )
    stop = asyncio.Event()
    projector = asyncio.create_task(Projector(pool, poll_interval=0.2).run(stop))
    sock = _free_socket()
    server, serving = await _serve(build_api(settings), sock)
    host, port = sock.getsockname()
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=30) as http:
            running = Stack(http=http, pool=pool)
            await seed_orgs(running)
            yield running
    finally:
        server.should_exit = True
        await serving
        stop.set()
        await projector
