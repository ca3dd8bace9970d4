"""Structured logging: one structlog setup for web, worker and CLI, with the request id bound per request."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import structlog

from crm.settings import Settings

# The level configured last; `logs_at` lets a hot path skip building a line that would be filtered out anyway.
_level = logging.INFO
# Where log lines go: stderr, unless a command (the demo) sent them to a file so its own output stands apart.
_target: TextIO | None = None


def log_to_file(path: Path) -> None:
    """Send every later log line (structlog and stdlib, web and worker) to this file, appended, line-buffered."""
    global _target
    path.parent.mkdir(parents=True, exist_ok=True)
    if _target is not None:
        _target.close()
    _target = path.open("a", encoding="utf-8", buffering=1)


def logs_at(level: int) -> bool:
    return level >= _level


def configure_logging(settings: Settings) -> None:
    global _level
    level = _level = getattr(logging, settings.log_level)
    stream = _target or sys.stderr
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=level, stream=stream, format="%(asctime)s %(levelname)s %(name)s %(message)s", force=_target is not None
    )
    # Per-request client logs from httpx drown the useful lines; keep them for debugging only.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
