import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from crm import __version__


def crm(*args: str, tmp_path: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    clean.update({"CRM_DATA_DIR": str(tmp_path / "var"), "CRM_LOG_LEVEL": "WARNING", **env})
    return subprocess.run(
        [sys.executable, "-m", "crm", *args], capture_output=True, text=True, env=clean, cwd=tmp_path, timeout=timeout
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


@pytest.mark.slow
def test_the_demo_serves_health_and_schema_on_the_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    clean.update({"CRM_DATA_DIR": str(tmp_path / "var"), "CRM_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    demo = subprocess.Popen(
        [sys.executable, "-m", "crm", "demo", "--port", str(port), "--exit-after", "60"],
        env=clean,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    assert demo.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("Press Ctrl-C" in line or "Stopping in" in line for line in lines):
            assert demo.poll() is None, f"the demo exited early: {lines}"
            assert time.monotonic() < deadline, f"the demo did not come up: {lines}"
            time.sleep(0.3)
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        assert httpx.get(f"{base}/schema/openapi.json").json()["info"]["title"] == "Warmline"
        assert httpx.get(f"{base}/ready").json()["checks"] == {"database": "ok", "redis": "ok"}
    finally:
        demo.send_signal(signal.SIGINT)
        err = demo.communicate(timeout=60)[1]
        reader.join(timeout=10)
    output = "".join(lines)
    assert "Warmline demo is running at http://127.0.0.1:" in output, err[-2000:]
    assert "Traceback" not in err
    assert demo.returncode == 0, err[-2000:]
