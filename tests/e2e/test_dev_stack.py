"""`lingti dev` as a new user runs it: up on embedded parts, Ctrl-C stops every child, a restart keeps everything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import jwt
import psutil
import pytest

STARTUP_LIMIT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dev_env():
    data_dir = Path(tempfile.mkdtemp(prefix="lingti-dev-"))
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as its own system user when we are root
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")}
    env.update(LINGTI_DATA_DIR=str(data_dir), LINGTI_API_PORT=str(free_port()),
               LINGTI_TEMPORAL_PORT=str(free_port()), LINGTI_TEMPORAL_UI_PORT=str(free_port()))
    return env


class DevStack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.api = f"http://127.0.0.1:{env['LINGTI_API_PORT']}/v1"
        self.output = Path(env["LINGTI_DATA_DIR"]) / "dev-stdout.txt"
        with self.output.open("w") as out:  # a file, not a pipe: nothing can block on a full pipe
            self.process = subprocess.Popen([sys.executable, "-m", "lingti", "dev"], env=env,
                                            stdout=out, stderr=subprocess.DEVNULL)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_LIMIT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "lingti dev exited during start-up"
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("lingti dev did not become healthy in time")

    def printed(self, text: str, within: float = 10.0) -> bool:
        """The supervisor prints its table just after health answers: wait for it briefly."""
        deadline = time.monotonic() + within
        while text not in self.output.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        return text in self.output.read_text()

    def stop(self) -> list[psutil.Process]:
        """Ctrl-C the supervisor; returns the processes it had started that are still alive afterwards."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        return alive

    def token(self, **claims: str) -> str:
        secret = (Path(self.env["LINGTI_DATA_DIR"]) / "jwt_secret").read_text().strip()
        return jwt.encode({**claims, "exp": int(time.time()) + 600}, secret, algorithm="HS256")


def test_dev_stack_runs_stops_on_ctrl_c_and_keeps_everything_on_restart(dev_env):
    first = DevStack(dev_env)
    try:
        first.wait_healthy()
        assert first.printed("Temporal UI")
        admin = {"Authorization": f"Bearer {first.token(sub='admin', role='admin', org='HQ')}"}
        for path, kind in [("HQ", "hq"), ("HQ/SX", "province")]:
            assert httpx.post(f"{first.api}/orgs", json={"path": path, "name": path, "kind": kind},
                              headers=admin).status_code == 201
        proposer = {"Authorization": f"Bearer {first.token(sub='li', role='branch', org='HQ/SX')}"}
        body = {"title": "提升投递准时率", "category": "服务质量", "org": "HQ/SX", "due_date": "2099-12-31",
                "indicators": [{"name": "准时率", "target": 98.5}]}
        created = httpx.post(f"{first.api}/topics", json=body, headers=proposer, timeout=30)
        assert created.status_code == 201, created.text
        topic_id = created.json()["id"]
    finally:
        leftovers = first.stop() if first.process.poll() is None else []
    assert leftovers == [], f"still running after Ctrl-C: {leftovers}"

    second = DevStack(dev_env)
    try:
        second.wait_healthy()
        manager = {"Authorization": f"Bearer {second.token(sub='wang', role='manager', org='HQ/SX')}"}
        reviewed = httpx.post(f"{second.api}/topics/{topic_id}/review", json={"decision": "approve"},
                              headers=manager, timeout=30)
        assert reviewed.status_code == 200, reviewed.text
        assert (reviewed.json()["state"], reviewed.json()["version"]) == ("reviewed", 2)
        events = httpx.get(f"{second.api}/topics/{topic_id}/events", headers=manager).json()
        assert [e["type"] for e in events["events"]] == ["TopicProposed", "ProposalApproved"]
    finally:
        assert second.stop() == []
