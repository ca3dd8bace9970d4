from pathlib import Path

import pytest
from pydantic import ValidationError

from crm.settings import Settings


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_the_default_database_is_a_sqlite_file_under_the_data_dir() -> None:
    settings = make(data_dir=Path("somewhere"))
    assert settings.resolved_database_url == "sqlite+aiosqlite:///somewhere/warmline.db"
    assert settings.is_sqlite


def test_plain_postgres_urls_get_the_async_driver() -> None:
    assert make(database_url="postgres://u@h/db").resolved_database_url == "postgresql+asyncpg://u@h/db"
    assert make(database_url="postgresql://u@h/db").resolved_database_url == "postgresql+asyncpg://u@h/db"


def test_settings_are_read_from_crm_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PORT", "9123")
    monkeypatch.setenv("CRM_REDIS_URL", "redis://127.0.0.1:6380/2")
    settings = make()
    assert settings.port == 9123
    assert settings.redis_url == "redis://127.0.0.1:6380/2"


@pytest.mark.parametrize(
    ("field", "value"), [("database_url", "mysql://x/y"), ("redis_url", "http://x"), ("port", "eighty")]
)
def test_a_wrong_setting_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        make(**{field: value})
