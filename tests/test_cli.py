import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from crm import __version__
from crm.cli import cli
from tests.listeners.builders import jsonl_record


def crm(*args: str, tmp_path: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    clean.update({"CRM_DATA_DIR": str(tmp_path / "var"), "CRM_LOG_LEVEL": "WARNING", **env})
    return subprocess.run(
        [sys.executable, "-m", "crm", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
        timeout=timeout,
        stdin=subprocess.DEVNULL,  # never the terminal: `crm demo` would take its foreground, as under make
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_version(tmp_path: Path) -> None:
    result = crm("--version", tmp_path=tmp_path)
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_a_wrong_database_url_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    result = crm("db", "upgrade", tmp_path=tmp_path, CRM_DATABASE_URL="mysql://nowhere/db")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: CRM_DATABASE_URL")


def test_an_unreachable_database_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    result = crm(
        "db", "upgrade", tmp_path=tmp_path, CRM_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "CRM_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    assert crm("db", "upgrade", tmp_path=tmp_path).returncode == 0
    result = crm("worker", tmp_path=tmp_path, CRM_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "CRM_REDIS_URL" in result.stderr


def test_a_standalone_worker_needs_a_redis_url(tmp_path: Path) -> None:
    result = crm("worker", tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: CRM_REDIS_URL is not set")


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = crm("serve", "--port", str(free_port()), tmp_path=tmp_path)
    assert result.returncode == 1
    assert "crm db upgrade" in result.stderr


def test_db_upgrade_migrates_the_default_sqlite_file(tmp_path: Path) -> None:
    result = crm("db", "upgrade", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "warmline.db").exists()


def children_of(pid: int) -> set[int]:
    """Live child processes of pid, read from /proc (zombies waiting to be reaped do not count)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_serve(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    clean.update({"CRM_DATA_DIR": str(tmp_path / "var"), "CRM_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    return subprocess.Popen(
        [sys.executable, "-m", "crm", "serve", "--port", str(port)],
        env=clean,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_health(process: subprocess.Popen[str], port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.communicate()[1][-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "crm serve did not answer /health"
        time.sleep(0.2)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
def test_sigterm_stops_serve_promptly_and_takes_its_embedded_valkey_down_with_it(tmp_path: Path) -> None:
    assert crm("db", "upgrade", tmp_path=tmp_path).returncode == 0
    port = free_port()
    process = start_serve(tmp_path, port)
    try:
        wait_for_health(process, port)
        children = children_of(process.pid)
        assert children, "the embedded Valkey should run as a child of crm serve"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert time.monotonic() - started < 15
    assert process.returncode == 0, err[-2000:]
    assert out.splitlines()[-1] == "stopped" and "Traceback" not in err
    deadline = time.monotonic() + 5
    while any(alive(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [child for child in children if alive(child)], "a child of crm serve outlived it"


def test_serve_starts_again_on_the_same_port_right_after_a_stop(tmp_path: Path) -> None:
    assert crm("db", "upgrade", tmp_path=tmp_path).returncode == 0
    port = free_port()
    for _ in range(2):
        process = start_serve(tmp_path, port)
        try:
            wait_for_health(process, port)
            # A request leaves the server's side of the connection in TIME_WAIT once the server closes it.
            assert httpx.get(f"http://127.0.0.1:{port}/health", headers={"connection": "close"}).status_code == 200
            process.send_signal(signal.SIGINT)
            err = process.communicate(timeout=20)[1]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, err[-2000:]
        assert "in use" not in err


def test_a_port_in_use_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    assert crm("db", "upgrade", tmp_path=tmp_path).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = crm("serve", "--port", str(port), tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 is in use: pass --port or set CRM_PORT"


@pytest.mark.slow
def test_the_demo_serves_health_and_schema_on_the_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    clean.update({"CRM_DATA_DIR": str(tmp_path / "var"), "CRM_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    demo = subprocess.Popen(
        [sys.executable, "-m", "crm", "demo", "--port", str(port), "--exit-after", "60"],
        env=clean,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    assert demo.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while not any("Press Ctrl-C" in line or "Stopping in" in line for line in lines):
            assert demo.poll() is None, f"the demo exited early: {lines}"
            assert time.monotonic() < deadline, f"the demo did not come up: {lines}"
            time.sleep(0.3)
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        assert httpx.get(f"{base}/schema/openapi.json").json()["info"]["title"] == "Warmline"
        assert httpx.get(f"{base}/ready").json()["checks"] == {"database": "ok", "redis": "ok"}
        children = children_of(demo.pid)
    finally:
        printed = len(lines)
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        demo.wait(timeout=60)
        reader.join(timeout=10)
        assert demo.stderr is not None
        err = demo.stderr.read()
    output = "".join(lines)
    assert "Warmline demo is running at http://127.0.0.1:" in output, err[-2000:]
    assert demo.returncode == 0, err[-2000:]
    # Ctrl-C: one line, no traceback, nothing from the logs on the terminal (they are in the data dir's log file).
    assert lines[printed:] == ["demo stopped\n"] and err == ""
    log_file = tmp_path / "var" / "logs" / "demo.log"
    assert f"logs:       {log_file}" in output and log_file.exists()
    assert not [child for child in children if alive(child)], "a child of the demo outlived it"
    # The demo's own output stands apart: the sign-in block is fenced, and the board has warm leads to open on.
    block = output.split("-" * 72)[1]
    assert "lead board:" in block and "API key:" in block
    warm = next(line for line in lines if "at or above the board's score threshold" in line)
    assert int(warm.split(" leads, ")[1].split()[0]) >= 10
    # `crm doctor` ran first, and a fresh data dir on loopback has nothing to fail.
    assert lines[0].startswith("crm doctor: ") and lines[0].endswith(" 0 failures\n")


@pytest.mark.slow
def test_a_second_demo_run_signs_in_with_the_same_password(tmp_path: Path) -> None:
    def sign_in_line() -> str:
        result = crm("demo", "--port", str(free_port()), "--exit-after", "0", tmp_path=tmp_path, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return next(line for line in result.stdout.splitlines() if "lead board:" in line)

    first, second = sign_in_line(), sign_in_line()
    password = first.split("warmline.local / ")[1].rstrip(")")
    assert password and f"/ {password}, kept in {tmp_path / 'var' / 'demo-admin-password'}" in second


def test_serve_queues_the_leads_a_lost_queue_left_unscored_and_its_worker_scores_them(
    tmp_path: Path, valkey_url: str
) -> None:
    import sqlite3

    assert crm("db", "upgrade", tmp_path=tmp_path).returncode == 0
    assert crm("listen", "watch", "create", "w", "-k", "crm", tmp_path=tmp_path).returncode == 0
    posts = tmp_path / "posts.jsonl"
    posts.write_text(
        "".join(json.dumps(jsonl_record(str(i), f"which crm should we use, take {i}?")) + "\n" for i in range(3))
    )
    # Jobs handed to a queue that no worker reads, then lost: what an embedded queue's end used to leave behind.
    queue = {"CRM_REDIS_URL": valkey_url, "CRM_QUEUE_NAME": f"lost-{uuid.uuid4().hex[:10]}"}
    imported = crm("listen", "import", str(posts), "--watch", "w", tmp_path=tmp_path, **queue)
    assert "new leads 3" in imported.stdout, imported.stdout + imported.stderr
    database = tmp_path / "var" / "warmline.db"

    def unscored() -> int:
        with sqlite3.connect(database) as conn:
            return int(conn.execute("SELECT count(*) FROM lead WHERE score IS NULL").fetchone()[0])

    assert unscored() == 3
    port = free_port()
    process = start_serve(tmp_path, port)
    try:
        wait_for_health(process, port)
        deadline = time.monotonic() + 30
        while unscored() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert unscored() == 0
    finally:
        process.send_signal(signal.SIGTERM)
        out = process.communicate(timeout=20)[0]
    assert "3 leads without a score were queued for scoring" in out


PARENT = """
import subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdin=sys.stdin)
print("parent saw", child.wait(), flush=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "tcsetpgrp"), reason="needs a POSIX terminal")
def test_ctrl_c_in_a_terminal_stops_the_demo_alone_so_a_make_around_it_exits_cleanly(tmp_path: Path) -> None:
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update({"CRM_DATA_DIR": str(tmp_path / "var"), "CRM_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    demo = [sys.executable, "-m", "crm", "demo", "--port", str(free_port())]
    pid, terminal = pty.fork()
    if pid == 0:  # a session leader on its own terminal, running a parent like make: the demo is not a leader
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-c", PARENT, *demo], env)
    seen = b""
    pressed = False
    deadline = time.monotonic() + 90
    try:
        while b"parent saw" not in seen and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.5)[0]:
                try:
                    seen += os.read(terminal, 4096)
                except OSError:
                    break
            if not pressed and b"Press Ctrl-C" in seen:
                os.write(terminal, b"\x03")  # the terminal turns it into SIGINT for its foreground group
                pressed = True
        time.sleep(0.2)
        with contextlib.suppress(OSError):
            seen += os.read(terminal, 4096)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(terminal)
    text = seen.decode(errors="replace")
    after = text.split("Press Ctrl-C to stop.", 1)[-1]
    # The parent (make) was not interrupted and saw exit 0; the demo said one line.
    assert pressed and "parent saw 0" in after, text[-2000:]
    assert "demo stopped" in after and "Traceback" not in text


# ----------------------------------------------------------------------------- help, completion, Ctrl-C


def test_help_lists_the_commands_under_the_flow_step_they_belong_to() -> None:
    output = CliRunner().invoke(cli, ["--help"]).output
    titles = [line for line in output.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert titles == ["Options:", "Set up:", "Listen:", "Score:", "Reach out:", "Run:"]
    setup = output.split("Set up:")[1].split("Listen:")[0]
    assert [line.split()[0] for line in setup.strip().splitlines()] == ["db", "user", "apikey", "doctor", "completion"]
    assert "serve" in output.split("Run:")[1] and "scoring" in output.split("Score:")[1]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef crm"), ("fish", "complete --no-files --command crm")],
)
def test_completion_prints_the_script_for_each_shell(shell: str, marker: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0
    assert marker in result.output and "_CRM_COMPLETE" in result.output


def test_the_installed_crm_script_completes_command_names(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "crm"
    env = {**os.environ, "_CRM_COMPLETE": "bash_complete", "COMP_WORDS": "crm sco", "COMP_CWORD": "1"}
    result = subprocess.run([str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "plain,scoring" in result.stdout.splitlines()


def test_ctrl_c_while_the_cli_is_still_importing_is_one_line_and_exit_130(tmp_path: Path) -> None:
    # -X importtime reports each finished import on stderr: interrupt as soon as the CLI's imports are under way.
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "crm", "--version"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.rstrip().endswith("crm.errors"):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    process.wait(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in rest
    assert [line for line in rest.splitlines() if not line.startswith("import time:")] == ["interrupted"]
