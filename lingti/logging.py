"""Structured logs: one line of JSON per event (or readable console lines), with
context (request id, topic, actor) bound once via structlog's contextvars and
merged into every line, including lines from uvicorn, temporalio and alembic.
"""

from __future__ import annotations

import logging
import sys

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def configure_logging(level: str = "info", log_format: str = "json", process: str | None = None) -> None:
    """Route structlog and the standard library's logging through one renderer on stderr.

    `process` ("api", "worker", ...) is added to every line so the interleaved
    output of `lingti dev` says which child wrote it.
    """
    numeric_level = _LEVELS[level.lower()]
    shared = _shared_processors(process)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderers(log_format)],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _shared_processors(process: str | None) -> list:
    processors: list = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if process:
        processors.insert(1, _add_process_name(process))
    return processors


def _add_process_name(process: str):
    def add_process_name(_logger, _method, event_dict):
        event_dict.setdefault("process", process)
        return event_dict

    return add_process_name


def _renderers(log_format: str) -> list:
    if log_format == "console":
        return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(ensure_ascii=False)]
