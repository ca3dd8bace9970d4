import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_the_compose_file_validates_offline() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "CRM_SECRET_KEY": "x" * 32},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_packages_depend_one_way() -> None:
    lint_imports = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "lint-imports"
    executable = str(lint_imports) if lint_imports.exists() else shutil.which("lint-imports")
    assert executable, "import-linter is not installed"
    result = subprocess.run([executable, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
