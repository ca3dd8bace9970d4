"""The arq queue: Redis settings from our URL, a JSON job serializer, and `enqueue` with stable job ids."""

from __future__ import annotations

import json
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job

from crm.settings import Settings


def serialize_job(obj: Any) -> bytes:
    # JSON, not pickle: a job payload read from Redis must never be able to run code.
    return json.dumps(obj, default=str, separators=(",", ":")).encode()


def deserialize_job(data: bytes) -> Any:
    return json.loads(data)


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = 2
    settings.conn_retry_delay = 0
    return settings


async def create_queue(settings: Settings) -> ArqRedis:
    if not settings.redis_url:
        raise RuntimeError("CRM_REDIS_URL is not set")
    return await create_pool(
        redis_settings(settings.redis_url),
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        default_queue_name=settings.queue_name,
    )


def job_key(queue: ArqRedis, job_id: str) -> str:
    """Job ids live in one Redis key space; the queue name keeps two deployments (or test runs) apart."""
    return f"{queue.default_queue_name}:{job_id}"


async def enqueue(queue: ArqRedis, function: str, *, job_id: str, **kwargs: Any) -> Job | None:
    """Enqueue by name with a stable id: a second enqueue of the same id while it is known is a no-op."""
    return await queue.enqueue_job(function, _job_id=job_key(queue, job_id), **kwargs)
