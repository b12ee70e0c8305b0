"""`lingti dev`: everything on one machine, supervised by one foreground process.

Order of start: PostgreSQL, Temporal, migrations, then worker, projector and
API as child processes; stop runs in reverse. Ctrl-C or SIGTERM stops all of
it cleanly; any child dying on its own stops all of it with exit code 1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx

from lingti.child_processes import ChildGroup
from lingti.dev_summary import print_summary
from lingti.devstack import (
    DevStackError,
    embedded_postgres,
    ensure_port_free,
    temporal_dev_server_command,
    wait_for_temporal,
)
from lingti.search_attributes import ensure_search_attributes
from lingti.settings import Settings, resolve_jwt_secret

API_READY_TIMEOUT_SECONDS = 90.0
SERVICES = ("worker", "projector", "api")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(BaseException):
    """Ctrl-C or SIGTERM reached the supervisor."""


class ChildFailed(DevStackError):
    """A part of the stack exited on its own or never became ready."""


def run_dev_stack(settings: Settings) -> int:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"data_dir": data_dir})
    jwt_secret = resolve_jwt_secret(settings)
    ensure_port_free(settings.api_host, settings.api_port, "LINGTI_API_PORT")
    _install_stop_handlers()
    with ExitStack() as stack:
        try:
            database_url = settings.database_url or stack.enter_context(embedded_postgres(data_dir))
            temporal_address = _start_or_join_temporal(settings, stack.enter_context(ChildGroup()))
            env = _child_environment(settings, database_url, temporal_address, jwt_secret)
            _migrate(env)
            services = stack.enter_context(ChildGroup())
            for name in SERVICES:
                with _stop_signals_deferred():  # a child is always registered before Ctrl-C can unwind
                    services.start(f"lingti {name}", _lingti_command(name), env=env)
            _wait_for_api(settings, services)
            print_summary(settings, database_url, temporal_address, embedded_temporal=not settings.temporal_address)
            return _supervise(services)
        except StopRequested:
            print("\nlingti: stopping…", file=sys.stderr)
            return 0
        except DevStackError as failure:
            print(f"lingti: {failure}; stopping everything", file=sys.stderr)
            return 1
        finally:
            _ignore_stop_signals()  # a second Ctrl-C must not interrupt the orderly stop


def _start_or_join_temporal(settings: Settings, group: ChildGroup) -> str:
    if settings.temporal_address:
        asyncio.run(_join_external_temporal(settings.temporal_address, settings.temporal_namespace))
        return settings.temporal_address
    address = f"127.0.0.1:{settings.temporal_port}"
    log_path = settings.data_dir / "temporal.log"
    command = temporal_dev_server_command(settings, settings.data_dir)
    with log_path.open("ab") as log, _stop_signals_deferred():
        server = group.start("the Temporal dev server", command, output=log)
    asyncio.run(wait_for_temporal(address, settings.temporal_namespace, server, log_path))
    return address


async def _join_external_temporal(address: str, namespace: str) -> None:
    from temporalio.client import Client

    await wait_for_temporal(address, namespace)
    client = await Client.connect(address, namespace=namespace)
    added = await ensure_search_attributes(client, namespace)
    if added:
        print(f"lingti: registered search attributes {', '.join(added)} on {address}", file=sys.stderr)


def _child_environment(settings: Settings, database_url: str, temporal_address: str, jwt_secret: str) -> dict:
    return {
        **os.environ,
        "LINGTI_MODE": "dev",
        "LINGTI_DATA_DIR": str(settings.data_dir),
        "LINGTI_DATABASE_URL": database_url,
        "LINGTI_TEMPORAL_ADDRESS": temporal_address,
        "LINGTI_JWT_SECRET": jwt_secret,
        "PYTHONUNBUFFERED": "1",
    }


def _lingti_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lingti", *args]


def _migrate(env: dict) -> None:
    with ChildGroup() as migration:
        with _stop_signals_deferred():
            child = migration.start("lingti migrate", _lingti_command("migrate"), env=env)
        code = child.process.wait()
    if code != 0:
        raise ChildFailed(f"`lingti migrate` failed with exit code {code}")


def _wait_for_api(settings: Settings, services: ChildGroup) -> None:
    url = f"http://{settings.api_host}:{settings.api_port}/v1/health"
    deadline = time.monotonic() + API_READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        _raise_if_any_exited(services)
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ChildFailed(f"{url} did not answer 200 within {API_READY_TIMEOUT_SECONDS:.0f}s")


def _supervise(services: ChildGroup) -> int:
    while True:
        _raise_if_any_exited(services)
        time.sleep(0.5)


def _raise_if_any_exited(group: ChildGroup) -> None:
    exited = group.first_exited()
    if exited is not None:
        raise ChildFailed(f"{exited.name} exited unexpectedly with code {exited.exit_code()}")


def _install_stop_handlers() -> None:
    def request_stop(signum, _frame):
        raise StopRequested(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, request_stop)


@contextmanager
def _stop_signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM while a child is started and registered; act on it right after."""
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise StopRequested(signal.Signals(received[0]).name)


def _ignore_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
