"""The embedded Valkey the CLI starts when no Redis URL is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis

from crm.ops.embedded import embedded_valkey


def test_the_embedded_valkey_starts_from_a_relative_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CRM_DATA_DIR defaults to the relative "var", which is what `make demo` on a fresh clone uses.
    monkeypatch.chdir(tmp_path)
    with embedded_valkey(Path("var")) as url:
        client = Redis.from_url(url)
        try:
            assert client.ping()
        finally:
            client.close()
    assert (tmp_path / "var" / "valkey").is_dir()
