"""Structured logging: one structlog setup for web, worker and CLI, with the request id bound per request."""

from __future__ import annotations

import logging
import sys

import structlog

from crm.settings import Settings

# The level configured last; `logs_at` lets a hot path skip building a line that would be filtered out anyway.
_level = logging.INFO


def logs_at(level: int) -> bool:
    return level >= _level


def configure_logging(settings: Settings) -> None:
    global _level
    level = _level = getattr(logging, settings.log_level)
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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Per-request client logs from httpx drown the useful lines; keep them for debugging only.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
