"""A small pool of long-lived worker processes that render user-supplied DM templates, awaited from asyncio.

A template that loops for minutes or allocates gigabytes must not freeze the web process: the render happens in
a child (`python -m outreach.compose.sandbox`, with its own memory cap), the event loop only waits on the child's pipe,
and a child that misses the wall-clock deadline is killed and replaced. The pool starts lazily on the first user
template, holds at most POOL_SIZE children, and works from any event loop (tests run one per test), so it keeps
no loop-bound objects between calls.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crm.errors import InvalidInput, ServiceUnavailable

POOL_SIZE = 2
RENDER_TIMEOUT_SECONDS = 1.0
# A fresh worker imports Jinja before it says it is ready; on a loaded machine that can take a while, and it must
# not be charged to the template.
START_TIMEOUT_SECONDS = 20.0
QUEUE_TIMEOUT_SECONDS = 10.0
MAX_REPLY_BYTES = 4 * 1024 * 1024
# The directory holding the `outreach` package (outreach/compose/render_pool.py -> three levels up), so the worker
# imports this checkout's sandbox even when the package is not installed.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class _Gone(Exception):
    """The worker exited or answered nonsense: most often the memory cap ended it."""


def _wake(readable: asyncio.Future[None]) -> None:
    if not readable.done():
        readable.set_result(None)


class _Worker:
    """One child process and the bytes read from it so far."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "outreach.compose.sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin.fileno()
        self._out = self.process.stdout.fileno()
        os.set_blocking(self._out, False)
        self._buffer = bytearray()
        self._ready = False

    async def _reply(self, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (end := self._buffer.find(b"\n")) < 0:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self._out, _wake, readable)
            try:
                await asyncio.wait_for(readable, remaining)
            finally:
                loop.remove_reader(self._out)
            try:
                chunk = os.read(self._out, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                raise _Gone
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise _Gone
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        try:
            reply = json.loads(line)
        except ValueError:
            raise _Gone from None
        if not isinstance(reply, dict):
            raise _Gone
        return reply

    async def exchange(self, payload: bytes, timeout: float) -> dict[str, Any]:
        """Send one request and wait for its answer; the clock starts once the worker is ready."""
        if not self._ready:
            try:
                await self._reply(START_TIMEOUT_SECONDS)
            except TimeoutError:
                raise _Gone from None
            self._ready = True
        view = memoryview(payload)
        try:
            while view:  # an idle worker is blocked reading, so this never waits long
                view = view[os.write(self._in, view) :]
        except OSError:
            raise _Gone from None
        return await self._reply(timeout)

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class RenderPool:
    """At most `size` workers; a caller waits (up to QUEUE_TIMEOUT_SECONDS) when all are busy."""

    def __init__(self, size: int = POOL_SIZE, timeout: float = RENDER_TIMEOUT_SECONDS) -> None:
        self.size, self.timeout = size, timeout
        self._lock = threading.Lock()  # the pool may be shared by event loops in several threads
        self._idle: list[_Worker] = []
        self._alive: set[_Worker] = set()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[_Worker]]] = deque()
        self._pid = os.getpid()

    def _forget_if_forked(self) -> None:
        # A forked process inherits the parent's bookkeeping, not its pipes' ownership: start afresh.
        if os.getpid() != self._pid:
            self._idle, self._alive, self._waiters, self._pid = [], set(), deque(), os.getpid()

    async def _acquire(self) -> _Worker:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._forget_if_forked()
            if self._idle:
                return self._idle.pop()
            if len(self._alive) < self.size:
                try:
                    worker = _Worker()
                except OSError as exc:
                    raise ServiceUnavailable(f"cannot start a template worker: {exc}") from None
                self._alive.add(worker)
                return worker
            waiter: asyncio.Future[_Worker] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            return await asyncio.wait_for(waiter, QUEUE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise ServiceUnavailable(
                "every template worker is busy; try again in a moment", headers={"Retry-After": "1"}
            ) from None
        except BaseException:
            # Cancelled just after a worker was handed over: give it back rather than lose it from the pool.
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())
            raise
        finally:
            with self._lock:
                if (loop, waiter) in self._waiters:
                    self._waiters.remove((loop, waiter))

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if worker not in self._alive:
                return
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                if waiter.done():
                    continue
                try:
                    loop.call_soon_threadsafe(self._deliver, waiter, worker)
                    return
                except RuntimeError:  # that caller's loop has closed
                    continue
            self._idle.append(worker)

    def _deliver(self, waiter: asyncio.Future[_Worker], worker: _Worker) -> None:
        if waiter.done():  # the caller gave up meanwhile
            self._release(worker)
        else:
            waiter.set_result(worker)

    def _replace(self, worker: _Worker) -> None:
        """Kill a worker whose state is unknown and start its successor now, so the next caller need not wait."""
        worker.kill()
        with self._lock:
            self._alive.discard(worker)
            try:
                fresh = _Worker()
            except OSError:
                return
            self._alive.add(fresh)
        self._release(fresh)

    async def render(self, template: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The worker's answer: `{"body": ...}` or `{"error": ..., "kind": ...}`, `kind` "timeout" or "memory"
        when the pool ended the render itself."""
        payload = json.dumps({"template": template, "values": dict(values)}).encode() + b"\n"
        worker = await self._acquire()
        try:
            reply = await worker.exchange(payload, self.timeout)
        except TimeoutError:
            self._replace(worker)
            return {"error": f"the template took too long to render (over {self.timeout:g} s)", "kind": "timeout"}
        except _Gone:
            self._replace(worker)
            return {"error": "the template used too much memory", "kind": "memory"}
        except BaseException:  # cancelled mid-render: the worker may still be busy with it
            self._replace(worker)
            raise
        self._release(worker)
        return reply

    def close(self) -> None:
        with self._lock:
            workers, self._idle, self._alive = list(self._alive), [], set()
        for worker in workers:
            worker.kill()


_pool: RenderPool | None = None
_pool_lock = threading.Lock()


def render_pool() -> RenderPool:
    """The process's pool, created on first use and stopped when the process exits."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = RenderPool()
            atexit.register(_pool.close)
        return _pool


async def render_untrusted(template: str, values: Mapping[str, Any]) -> str:
    """Render a user-supplied template in a worker; every refusal is a 422 naming the reason, with
    `template_error`: syntax, forbidden, limit, runtime, timeout or memory."""
    reply = await render_pool().render(template, values)
    if "body" in reply and isinstance(reply["body"], str):
        return reply["body"]
    kind, error = str(reply.get("kind", "runtime")), str(reply.get("error", "unknown"))
    if kind == "internal":
        raise ServiceUnavailable("the template worker failed; try again")
    detail = error if kind in ("timeout", "memory") else f"template error: {error}"
    raise InvalidInput(detail, extra={"template_error": kind})
