"""The import-linter contracts in pyproject.toml hold: packages depend one way, crm's layers one way, and nothing
imports a composition root. Run in the suite so `pytest` alone catches a layering slip, not only `make lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_every_import_contract_is_kept() -> None:
    # A subprocess from the project root: the linter puts its working directory on sys.path and reads pyproject.toml
    # there; --no-cache keeps it from writing a cache folder into the checkout.
    result = subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
