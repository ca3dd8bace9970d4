"""Liveness and readiness: /health answers while the process runs, /ready checks the database and Redis."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from sqlalchemy import text

from crm import __version__
from crm.http.deps import Engine, Queue


class HealthController(Controller):
    tags = ["health"]

    @get("/health", summary="Liveness", exclude_from_auth=True)
    async def health(self) -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @get("/ready", summary="Readiness (database and Redis)", exclude_from_auth=True)
    async def ready(self, engine: Engine, queue: Queue) -> Response[dict[str, Any]]:
        checks: dict[str, str] = {}
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure instead of raising it
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            await queue.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
