"""`crm demo`: the whole flow on the embedded defaults, driven through the real API and worker.

Part of the CLI composition root (it may import every package); nothing imports it but `crm.cli`.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select

from crm.access.auth import create_api_key, create_user, hash_password, verify_password
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.integrations.hooks import install as install_session_hooks
from crm.models import Role, User
from crm.ops.progress import task, track
from crm.queue import create_queue, enqueue
from crm.settings import Settings
from listeners.platforms.replay import ReplayServer

DEMO_EMAIL = "demo-admin@warmline.local"
# The demo data (crm/demo_data) is people asking about CRMs; the watches listen for exactly that, like a
# deployment selling a CRM would, so the board opens on leads worth a look.
COMPETITORS: list[dict[str, Any]] = [
    {"name": "Salesforce", "aliases": ["sfdc"], "handles": ["@salesforce"]},
    {"name": "HubSpot", "aliases": ["hubspot crm"], "handles": ["@hubspot"]},
    {"name": "Pipedrive", "aliases": [], "handles": ["@pipedrive"]},
    {"name": "Zoho", "aliases": ["zoho crm"], "handles": ["@zoho"]},
]
KEYWORDS = ["crm", "lead tracking", "sales pipeline", "outreach tool"]
EXCLUDED = ["hiring", "job opening", "click the link"]
DEMO_WATCH: dict[str, Any] = {
    "name": "Demo: CRM alternatives",
    "description": "People asking for a CRM or complaining about the one they use.",
    "keywords": KEYWORDS,
    "competitors": COMPETITORS,
    "excluded_terms": EXCLUDED,
}
REPLAY_WATCH: dict[str, Any] = {
    "name": "Demo: CRM talk on public platforms",
    "description": (
        "The same interest on HN, Reddit, X, Mastodon, Bluesky (search and the Jetstream firehose) and RSS, read "
        "through the real connectors from a local replay of recorded public posts (mostly about other things)."
    ),
    "keywords": KEYWORDS,
    "competitors": COMPETITORS,
    "excluded_terms": EXCLUDED,
    "platforms": ["hackernews", "reddit", "x", "mastodon", "bluesky", "rss"],
}
# Bluesky is read two ways: searchPosts (the watch's "bluesky") and the firehose, polled by its connector name.
REPLAY_POLLS = [*REPLAY_WATCH["platforms"], "jetstream"]
PASSWORD_FILE = "demo-admin-password"


@dataclass(frozen=True)
class Credentials:
    key: str
    password: str | None  # None: the admin changed it since the demo set it
    password_file: Path
    new_password: bool


def _read_password(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _write_password(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(password + "\n", encoding="utf-8")


async def _demo_credentials(settings: Settings) -> Credentials:
    """A fresh API key for the demo admin (printed once, like any new key) and the board password.

    The password is set on the first run only and kept in the data dir (mode 600), so a second run signs in the
    same way; a password the admin has since changed is left alone."""
    password_file = settings.data_dir / PASSWORD_FILE
    engine = make_engine(settings)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            admin = (await session.exec(select(User).where(User.email == DEMO_EMAIL))).first()
            if admin is None:
                admin = await create_user(session, DEMO_EMAIL, role=Role.ADMIN, name="Demo Admin")
            known = _read_password(password_file)
            password: str | None = known
            fresh = False
            # No file: a first run (or one from before the file existed): set a password and keep it there.
            if admin.password_hash is None or known is None:
                password, fresh = secrets.token_urlsafe(9), True
                admin.password_hash = hash_password(password)
                session.add(admin)
                _write_password(password_file, password)
            elif not verify_password(admin.password_hash, known):
                password = None
            key = (await create_api_key(session, settings, admin, "demo")).plaintext
            return Credentials(key, password, password_file, fresh)
    finally:
        await engine.dispose()


async def _wait_until_up(client: httpx.AsyncClient, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            if (await client.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError("the web process did not become ready")
        await asyncio.sleep(0.2)


async def _load(client: httpx.AsyncClient, echo: Callable[[str], Any], threshold: int) -> None:
    watches = (await client.get("/api/v1/watches", params={"limit": 200})).json()["items"]
    watch = next((w for w in watches if w["name"] == DEMO_WATCH["name"]), None)
    if watch is None:
        watch = (await client.post("/api/v1/watches", json=DEMO_WATCH)).raise_for_status().json()
    body = resources.files("crm").joinpath("demo_data/sample_mentions.jsonl").read_bytes()
    report = (
        (
            await client.post(
                f"/api/v1/watches/{watch['id']}/mentions/import",
                content=body,
                headers={"content-type": "application/x-ndjson"},
            )
        )
        .raise_for_status()
        .json()
    )
    echo(
        f"imported: {report['stored']} new mentions, {report['duplicates']} already known, "
        f"{report['new_leads']} new leads, {report['quarantined']} quarantined"
    )
    leads: list[dict[str, Any]] = []
    with task("the worker is scoring the new leads"):
        for _ in range(100):  # the worker scores in the background; wait briefly so the summary shows scores
            leads = (await client.get("/api/v1/leads", params={"limit": 200})).json()["items"]
            if all(lead["score"] is not None for lead in leads):
                break
            await asyncio.sleep(0.1)
    warm = sum(1 for lead in leads if (lead["score"] or 0) >= threshold)
    echo(f"{len(leads)} leads, {warm} at or above the board's score threshold ({threshold}); the best:")
    for lead in leads[:5]:
        echo(
            f"  lead {lead['id']:>3}  score {lead['score'] if lead['score'] is not None else '-':>5}  "
            f"@{lead['handle']}: {', '.join(lead['score_reasons'][:3])}"
        )


async def _poll_replay(
    settings: Settings, client: httpx.AsyncClient, replay: ReplayServer, echo: Callable[[str], Any]
) -> None:
    """One poll of each connector through the worker, against the local replay of recorded public posts."""
    watches = (await client.get("/api/v1/watches", params={"limit": 200})).json()["items"]
    # A data dir from an older demo may hold this watch with fewer platforms or keywords: use a definition that matches.
    same = [w for w in watches if w["name"].startswith(REPLAY_WATCH["name"])]
    watch = next((w for w in same if all(w[k] == REPLAY_WATCH[k] for k in ("keywords", "platforms"))), None)
    if watch is None:
        name = REPLAY_WATCH["name"] + (f" ({len(same) + 1})" if same else "")
        watch = (await client.post("/api/v1/watches", json={**REPLAY_WATCH, "name": name})).raise_for_status().json()
    echo(f"polling the platforms (a local replay of recorded public posts at {replay.base_url}):")
    queue = await create_queue(settings)
    read = leads = 0
    try:
        run = uuid.uuid4().hex[:8]  # a fresh job id per demo run; the cursors make a re-run find nothing new
        # Advanced as each poll finishes (the loop asks for the next platform), failed or not.
        for platform in track(REPLAY_POLLS, "polling the platforms", total=len(REPLAY_POLLS)):
            # One at a time: SQLite takes one writer, and the output reads in order.
            job = await enqueue(
                queue,
                "poll_watch",
                job_id=f"demo-poll:{watch['id']}:{platform}:{run}",
                watch_id=watch["id"],
                platform=platform,
            )
            try:
                report = await job.result(timeout=120) if job is not None else None
            except Exception as exc:  # a failed poll is one line of the demo's output, not a traceback
                echo(f"  {platform:<10} poll failed: {str(exc).splitlines()[0]}")
                continue
            if report is None:
                continue
            read, leads = read + report["stored"] + report["duplicates"], leads + len(report["new_leads"])
            problems = f"  ({'; '.join(report['errors'])})" if report["errors"] else ""
            echo(
                f"  {platform:<10} {report['stored']:>3} new posts, {report['duplicates']} already known, "
                f"{len(report['new_leads'])} new leads{problems}"
            )
    finally:
        await queue.aclose()
    # Real formats, but other projects' fixtures about other things: the watch rightly finds little in them.
    echo(f"  {read} recorded posts read, {leads} about CRMs (the recordings are mostly about other things)")


def _sign_in(credentials: Credentials) -> str:
    if credentials.password is None:
        return f"sign in as {DEMO_EMAIL} with the password you gave it (the demo's was changed since)"
    where = "" if credentials.new_password else f", kept in {credentials.password_file}"
    return f"sign in as {DEMO_EMAIL} / {credentials.password}{where}"


async def _until_stopped(server: asyncio.Task[None], work: Coroutine[Any, Any, None]) -> bool:
    """Run `work` unless the web process stops first (Ctrl-C, SIGTERM); True if it finished."""
    task = asyncio.create_task(work)
    await asyncio.wait([server, task], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # a failure of the demo itself is raised, not swallowed
        return True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False


async def run_demo(
    settings: Settings,
    run_processes: Callable[..., Coroutine[Any, Any, None]],
    *,
    exit_after: float | None,
    echo: Callable[[str], Any],
    log_file: Path | None = None,
) -> None:
    install_session_hooks()  # the demo's own sessions (credentials, the replay poll) write through the hooks too
    credentials = await _demo_credentials(settings)
    async with ReplayServer() as replay:
        # The worker's connectors read the local replay of recorded posts instead of the live platforms.
        # The recorded posts never change, so the demo polls once by hand instead of running the minute scheduler.
        settings = settings.model_copy(update={**replay.settings(), "listener_polling": False})
        stop = asyncio.Event()
        server = asyncio.create_task(run_processes(settings, web=True, worker=True, stop=stop))

        async def fill() -> None:
            async with httpx.AsyncClient(
                base_url=settings.base_url, headers={"authorization": f"Bearer {credentials.key}"}, timeout=30
            ) as client:
                with task("starting the web process and the worker"):
                    await _wait_until_up(client)
                await _load(client, echo, settings.lead_score_threshold)
                await _poll_replay(settings, client, replay, echo)

        try:
            # Stopped while filling the board (Ctrl-C stops the web process first): end quietly, not with the
            # connection errors of requests to a server that is shutting down.
            if not await _until_stopped(server, fill()):
                return
            echo("")
            echo("-" * 72)
            echo(f"Warmline demo is running at {settings.base_url}")
            echo(f"  lead board: {settings.base_url}/board  ({_sign_in(credentials)})")
            echo(f"  API docs:   {settings.base_url}/schema")
            echo(f"  leads:      {settings.base_url}/api/v1/leads")
            echo(f"  API key:    {credentials.key}")
            if log_file is not None:
                echo(f"  logs:       {log_file}")
            echo("-" * 72)
            echo("Press Ctrl-C to stop." if exit_after is None else f"Stopping in {exit_after:g} s.")
            await asyncio.wait([server], timeout=exit_after)
        finally:
            stop.set()
            await server
