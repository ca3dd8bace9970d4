"""Platform connectors by name: `get_client(name, http, settings)` builds the connector a poll uses."""

from __future__ import annotations

from crm.settings import Settings
from listeners.platforms.bluesky import Bluesky
from listeners.platforms.connector import Connector
from listeners.platforms.hackernews import HackerNews
from listeners.platforms.http import NotConfigured, PlatformHttp
from listeners.platforms.jetstream import Jetstream
from listeners.platforms.mastodon import Mastodon
from listeners.platforms.reddit import Reddit
from listeners.platforms.rss import Rss
from listeners.platforms.x import X

REGISTRY: dict[str, type[Connector]] = {
    cls.name: cls for cls in (HackerNews, Reddit, Bluesky, Jetstream, Mastodon, X, Rss)
}


def get_client(name: str, http: PlatformHttp, settings: Settings) -> Connector:
    """The connector for a platform name; NotConfigured if the name is unknown or its settings are missing."""
    cls = REGISTRY.get(name)
    if cls is None:
        raise NotConfigured(f"no connector named {name!r}; known: {', '.join(sorted(REGISTRY))}")
    if not cls.configured(settings):
        raise NotConfigured(f"{name}: the connector's settings (token, feeds) are not set")
    return cls(http, settings)
