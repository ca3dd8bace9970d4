"""Long CLI work draws progress on stderr when it is a terminal, and nothing at all in pipes and CI."""

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner

from crm.cli import cli
from crm.ops import progress
from tests.listeners.builders import jsonl_record


def prepared(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A migrated SQLite data dir with one watch, and a mention file to import into it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update({"CRM_DATA_DIR": str(tmp_path / "var"), "CRM_LOG_LEVEL": "WARNING", "TERM": "xterm-256color"})
    runner = CliRunner()
    for args in (["db", "upgrade"], ["listen", "watch", "create", "crm talk", "-k", "crm"]):
        result = runner.invoke(cli, args, env={**env, "CRM_DATABASE_URL": "", "CRM_REDIS_URL": ""})
        assert result.exit_code == 0, result.output
    source = tmp_path / "mentions.jsonl"
    records = [json.dumps(jsonl_record(f"p{i}", f"which crm instead of Salesforce? #{i}")) for i in range(200)]
    source.write_text("\n".join(records) + "\n", encoding="utf-8")
    return env, source


def on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run `python -m crm ARGS` with stderr on a pseudo-terminal and stdout on a pipe: (exit code, stdout, tty)."""
    controller, terminal = pty.openpty()
    drawn = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the command closed its end
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "crm", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=env,
            cwd=cwd,
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    return done.returncode, done.stdout.decode(), drawn.decode(errors="replace")


def test_an_import_on_a_terminal_draws_progress_on_stderr_and_keeps_stdout_plain(tmp_path: Path) -> None:
    env, source = prepared(tmp_path)
    code, out, drawn = on_a_terminal(["listen", "import", str(source), "--watch", "crm talk"], env, tmp_path)
    assert code == 0, drawn
    assert "importing mentions.jsonl" in drawn
    assert "\x1b[" in drawn  # cursor movement: a live bar, not printed lines
    assert out.startswith("stored 200, duplicates 0") and "importing" not in out


def test_the_same_import_in_a_pipe_prints_only_its_result_lines(tmp_path: Path) -> None:
    env, source = prepared(tmp_path)
    result = CliRunner().invoke(
        cli, ["listen", "import", str(source), "--watch", "crm talk"], env={**env, "CRM_DATABASE_URL": ""}
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert [line.split(" ")[0] for line in result.stdout.splitlines()] == ["stored", "scored"]


def test_progress_is_shown_only_when_stderr_is_a_terminal() -> None:
    assert progress.shown() is sys.stderr.isatty()
    with progress.task("nothing to draw", total=3) as tracker:
        tracker.advance()  # a silent tracker accepts the same calls
    assert list(progress.track([1, 2, 3], "counting")) == [1, 2, 3]
