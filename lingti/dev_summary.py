"""The table `lingti dev` prints once everything answers: where each part is."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from lingti.settings import Settings


def print_summary(settings: Settings, database_url: str, temporal_address: str, *, embedded_temporal: bool) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    temporal_ui = (
        f"http://127.0.0.1:{settings.temporal_ui_port}"
        if embedded_temporal
        else "(external cluster: use its own Web UI)"
    )
    temporal_log = settings.data_dir / "temporal.log" if embedded_temporal else None
    rows = [
        ("API", f"{api}/v1   (health: {api}/v1/health)"),
        ("OpenAPI docs", f"{api}/docs"),
        ("Temporal UI", temporal_ui),
        ("Temporal gRPC", f"{temporal_address}   (namespace {settings.temporal_namespace}, "
                          f"task queue {settings.task_queue})"),
        ("PostgreSQL", database_url),
        ("Data folder", str(settings.data_dir)),
        ("Logs", "worker, projector and api on stderr here"
                 + (f"; Temporal in {temporal_log}" if temporal_log else "")),
        ("Get a token", token_command(settings)),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    lines = ["", "Lingti is running. Ctrl-C stops everything; data stays in the data folder.", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    print("\n".join(lines) + "\n", flush=True)


def token_command(settings: Settings) -> str:
    """A command line that prints an admin token valid against this dev stack."""
    prefix = ""
    if settings.data_dir != Path(".lingti").resolve():
        prefix = f"LINGTI_DATA_DIR={shlex.quote(str(settings.data_dir))} "
    return f"{prefix}{_lingti_executable()} token --sub admin --role admin --org HQ"


def _lingti_executable() -> str:
    script = Path(sys.executable).parent / "lingti"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m lingti"
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else str(script)
