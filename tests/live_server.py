"""A real uvicorn server in the test's event loop, for tests that need requests truly in flight at once: Litestar's
test client runs one request at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from crm.app import create_app
from crm.settings import Settings


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[str]:
    """Serve the app on a free loopback port and yield its base URL; the server stops on exit."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
