"""Shared pieces for the connector tests: recorded fixtures, a MockTransport-backed connector, a sleep recorder, and a
local Mastodon test server on a real socket."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

from crm.models import Watch
from crm.settings import Settings
from listeners.platforms.connector import Connector, Page
from listeners.platforms.http import PlatformHttp, RetryPolicy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_text(platform: str, name: str) -> str:
    return (FIXTURES / platform / name).read_text(encoding="utf-8")


def fixture(platform: str, name: str) -> Any:
    return json.loads(fixture_text(platform, name))


def cassette_body(platform: str, name: str, uri_contains: str) -> Any:
    """The recorded body of the first cassette interaction whose URI contains the given text."""
    for interaction in fixture(platform, name):
        if uri_contains in interaction["request"]["uri"]:
            return interaction["body"]
    raise KeyError(uri_contains)


class Sleeps(list[float]):
    """Records the waits a connector asks for instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


def make_http(
    handler: Callable[[httpx.Request], httpx.Response], platform: str = "test", **policy: Any
) -> tuple[PlatformHttp, Sleeps]:
    sleeps = Sleeps()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    http = PlatformHttp(client, platform, policy=RetryPolicy(**policy), sleep=sleeps, rng=random.Random(7))
    return http, sleeps


def make_connector(
    cls: type[Connector], handler: Callable[[httpx.Request], httpx.Response], **settings: Any
) -> tuple[Connector, Sleeps]:
    http, sleeps = make_http(handler, cls.name)
    return cls(http, make_settings(**settings)), sleeps


def make_watch(keywords: list[str] | None = None, **fields: Any) -> Watch:
    return Watch(id=1, name="test watch", keywords=keywords if keywords is not None else ["apple"], **fields)


async def collect(
    connector: Connector, watch: Watch, source: str, cursor: str = "", state: dict[str, Any] | None = None
) -> list[Page]:
    return [page async for page in connector.pages(watch, source, cursor, state or {})]


def json_response(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


# --------------------------------------------------------------------------- a local Mastodon instance for tests


@dataclass
class Answer:
    """A canned HTTP answer the local server gives before its normal ones (a 429, a 503)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Step = str | Callable[[], Awaitable[None] | None]


@dataclass
class LocalMastodon:
    """A deterministic Mastodon test instance on 127.0.0.1 (a real socket, plain asyncio, HTTP/1.1).

    It pages the tag timeline the way Mastodon does (max_id, since_id, min_id, Link rel="next"/"prev") and serves
    `/api/v1/streaming/hashtag` as chunked server-sent events from scripted sessions: each session is a list of
    SSE texts to send, where DROP aborts the connection mid-stream, END finishes the body and a callable runs at that
    point (say, a status posted while the stream is down); a session out of steps stays open until the client leaves.
    """

    statuses: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[list[Step]] = field(default_factory=list)
    timeline_answers: list[Answer] = field(default_factory=list)
    stream_answers: list[Answer] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set)
    _requested: asyncio.Condition = field(default_factory=asyncio.Condition)

    DROP: ClassVar[str] = "<drop>"
    END: ClassVar[str] = "<end>"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    async def until_timeline_read(self, times: int) -> None:
        """A stream step: wait until the tag timeline was requested this often (the client's gap fill)."""
        async with self._requested:
            await self._requested.wait_for(
                lambda: len([p for p, _ in self.requests if p.startswith("/api/v1/timelines/tag/")]) >= times
            )

    def timeline(self, tag: str) -> list[tuple[str, dict[str, str]]]:
        return [(p, q) for p, q in self.requests if p == f"/api/v1/timelines/tag/{tag}"]

    async def __aenter__(self) -> LocalMastodon:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):  # streams the client left open
            writer.transport.abort()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self._open.discard(writer)
            writer.close()
            return
        target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
        parts = urlsplit(target)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.requests.append((parts.path, params))
        async with self._requested:
            self._requested.notify_all()
        try:
            if parts.path.startswith("/api/v1/timelines/tag/"):
                answer = self.timeline_answers.pop(0) if self.timeline_answers else self._page(parts.path, params)
                await self._send(writer, answer)
            elif parts.path == "/api/v1/streaming/hashtag":
                if self.stream_answers:
                    await self._send(writer, self.stream_answers.pop(0))
                else:
                    await self._stream(reader, writer, self.sessions.pop(0) if self.sessions else [])
            else:
                await self._send(writer, Answer(404, body=b'{"error":"Record not found"}'))
        except ConnectionError:
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    def _page(self, path: str, params: dict[str, str]) -> Answer:
        ordered = sorted(self.statuses, key=lambda s: int(s["id"]))
        limit = min(int(params.get("limit", 20)), 40)
        if "max_id" in params:
            ordered = [s for s in ordered if int(s["id"]) < int(params["max_id"])]
        if "since_id" in params:
            ordered = [s for s in ordered if int(s["id"]) > int(params["since_id"])]
        if "min_id" in params:  # the statuses right after min_id
            chunk = [s for s in ordered if int(s["id"]) > int(params["min_id"])][:limit]
        else:  # the newest ones
            chunk = ordered[-limit:]
        chunk = list(reversed(chunk))
        headers = {"content-type": "application/json"}
        if chunk:
            url = f"{self.base_url}{path}"
            headers["link"] = (
                f'<{url}?limit={limit}&max_id={chunk[-1]["id"]}>; rel="next", '
                f'<{url}?limit={limit}&min_id={chunk[0]["id"]}>; rel="prev"'
            )
        return Answer(200, headers, json.dumps(chunk).encode())

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, answer: Answer) -> None:
        lines = [f"HTTP/1.1 {answer.status} X", f"content-length: {len(answer.body)}", "connection: close"]
        lines += [f"{k}: {v}" for k, v in answer.headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + answer.body)
        await writer.drain()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, steps: list[Step]) -> None:
        head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        writer.write(head.encode())
        for step in steps:
            if callable(step):
                done = step()
                if done is not None:
                    await done
                continue
            if step == self.DROP:
                await writer.drain()
                writer.transport.abort()  # mid-body, no final chunk: the client sees a broken stream
                return
            if step == self.END:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                return
            data = step.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        await reader.read()  # quiet until the client disconnects


def sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"
