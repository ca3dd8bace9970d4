"""Shared pieces for the connector tests: recorded fixtures, a MockTransport-backed connector, a sleep recorder."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
