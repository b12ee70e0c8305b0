"""Child processes of `lingti dev`: started in their own session, stopped in order.

Each child gets its own session so a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children API-first and the databases last.
On Linux a child also receives SIGTERM if the supervisor itself dies, so a
killed `lingti dev` leaves no stray worker or Temporal server behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

STOP_TIMEOUT_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    def exit_code(self) -> int | None:
        return self.process.poll()


def spawn(
    name: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    output: IO | None = None,
) -> Child:
    process = subprocess.Popen(
        list(args),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
        preexec_fn=_die_with_parent() if sys.platform == "linux" else None,
    )
    return Child(name, process)


def stop_all(children: Sequence[Child], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM every child at once, wait up to `timeout` for all, then SIGKILL the stragglers."""
    running = [c for c in children if c.exit_code() is None]
    for child in running:
        _send(child, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in running:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"lingti: {child.name} did not stop within {timeout:.0f}s; killing it", file=sys.stderr)
            _send(child, signal.SIGKILL)
            child.process.wait()


class ChildGroup:
    """Children that are stopped together when the `with` block ends, however it ends."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, name: str, args: Sequence[str], **options) -> Child:
        child = spawn(name, args, **options)
        self.children.append(child)
        return child

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if c.exit_code() is not None), None)

    def __enter__(self) -> ChildGroup:
        return self

    def __exit__(self, *_exc_info) -> None:
        stop_all(self.children)


def _send(child: Child, sig: signal.Signals) -> None:
    try:
        child.process.send_signal(sig)
    except ProcessLookupError:
        pass


def _die_with_parent():
    """A pre-exec hook asking the kernel to SIGTERM the child when its parent exits.

    libc is resolved here, before fork, so the hook itself only makes one call.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return set_parent_death_signal
