import os
import socket
import subprocess
import sys
from pathlib import Path

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
def test_the_demo_runs_the_whole_flow_on_the_embedded_defaults(tmp_path: Path) -> None:
    result = crm("demo", "--port", str(free_port()), "--exit-after", "0.5", tmp_path=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Warmline demo is running at http://127.0.0.1:" in result.stdout
    assert "quarantined" in result.stdout
    assert "score" in result.stdout
