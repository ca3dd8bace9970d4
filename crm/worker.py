"""Composition root for the worker process: arq settings, the job functions of every package, startup/shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from arq.worker import Worker, func

from crm.db import make_engine, make_sessionmaker
from crm.integrations.hooks import install as install_session_hooks
from crm.integrations.webhooks import CRON_JOBS as WEBHOOK_CRON_JOBS
from crm.integrations.webhooks import DELIVER_JOB, deliver_webhook, run_dispatcher
from crm.ops.logs import configure_logging
from crm.queue import deserialize_job, redis_settings, serialize_job
from crm.settings import Settings
from listeners.analysis import analyse_mentions
from listeners.jobs import FUNCTIONS as LISTENER_FUNCTIONS
from listeners.jobs import cron_jobs as listener_cron_jobs
from scoring.jobs import CRON_JOBS as SCORING_CRON_JOBS
from scoring.jobs import FUNCTIONS as SCORING_FUNCTIONS
from scoring.jobs import setup as setup_scoring

# Webhook deliveries stop on their own after webhook_retry_hours, not after arq's default 5 tries.
FUNCTIONS: list[Any] = [
    *SCORING_FUNCTIONS,
    func(deliver_webhook, name=DELIVER_JOB, max_tries=100_000),
    analyse_mentions,
]
FUNCTIONS += LISTENER_FUNCTIONS


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    install_session_hooks()
    ctx["engine"] = make_engine(settings)
    ctx["sessionmaker"] = make_sessionmaker(ctx["engine"])
    ctx["http"] = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=False)
    setup_scoring(ctx)
    ctx["webhook_dispatcher"] = asyncio.create_task(run_dispatcher(ctx))


async def shutdown(ctx: dict[str, Any]) -> None:
    if "webhook_dispatcher" in ctx:
        ctx["webhook_dispatcher"].cancel()
        await asyncio.gather(ctx["webhook_dispatcher"], return_exceptions=True)
    if "http" in ctx:
        await ctx["http"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()


def worker_options(settings: Settings) -> dict[str, Any]:
    """Everything arq needs, in one place; `crm worker` and the tests build their Worker from this."""
    if not settings.redis_url:
        raise RuntimeError("CRM_REDIS_URL is not set")
    return {
        "functions": FUNCTIONS,
        "cron_jobs": [*listener_cron_jobs(settings), *SCORING_CRON_JOBS, *WEBHOOK_CRON_JOBS],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.redis_url),
        "queue_name": settings.queue_name,
        "job_serializer": serialize_job,
        "job_deserializer": deserialize_job,
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay,
        "keep_result": 3600,
        "ctx": {"settings": settings},
        "handle_signals": True,
    }


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    configure_logging(settings)
    return Worker(**{**worker_options(settings), **overrides})
