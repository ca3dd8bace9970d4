"""`crm doctor`: each check on a real database (the conftest backends) and its one-line, fix-bearing report."""

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.cli import cli
from crm.db import make_sessionmaker, session_scope
from crm.models import ModelVersion, Watch
from crm.ops import doctor
from crm.settings import Settings
from tests.scoring.conftest import trained_dir  # noqa: F401 -- the session's small trained model


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def bare(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


async def test_a_migrated_deployment_with_a_real_secret_passes_every_check(settings: Settings) -> None:
    checks = await doctor.run_checks(settings)
    assert not doctor.failed(checks), [doctor.line(c) for c in checks]
    found = by_name(checks)
    assert found["database.schema"].status == "ok"
    assert found["queue"].status == "ok"
    assert found["clock"].status == "ok"
    assert found["model"].detail.startswith("no active model")


async def test_the_embedded_valkey_is_started_to_prove_it_works(settings: Settings) -> None:
    check = await doctor.check_queue(settings.model_copy(update={"redis_url": ""}))
    assert check.status == "ok" and "embedded Valkey" in check.detail


async def test_an_unreachable_redis_fails_naming_the_setting(settings: Settings) -> None:
    check = await doctor.check_queue(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    assert check.status == "fail" and "CRM_REDIS_URL" in check.detail


def test_the_development_secret_key_fails_only_a_production_like_deployment() -> None:
    assert doctor.check_secret_key(bare()).status == "ok"
    assert doctor.check_secret_key(bare(host="0.0.0.0")).status == "fail"
    assert doctor.check_secret_key(bare(database_url="postgresql://db.internal/crm")).status == "fail"
    strong = bare(host="0.0.0.0", secret_key="x" * 48)
    assert doctor.check_secret_key(strong).status == "ok"


def test_a_url_that_does_not_parse_is_named_with_its_setting() -> None:
    check = doctor.check_urls(bare(hn_base_url="hn.algolia.com", jetstream_url="https://wrong.scheme/"))
    assert check.status == "fail"
    assert "CRM_HN_BASE_URL" in check.detail and "CRM_JETSTREAM_URL" in check.detail
    assert doctor.check_urls(bare()).status == "ok"


async def test_an_unmigrated_database_fails_with_the_upgrade_command_and_skips_what_needs_the_schema(
    tmp_path: Path,
) -> None:
    checks = by_name(await doctor.run_checks(bare(data_dir=tmp_path), queue=False))
    assert checks["database.schema"].status == "fail"
    assert "crm db upgrade" in checks["database.schema"].fix
    assert checks["model"].status == "skip" and checks["connectors"].status == "skip"


async def _activate(engine: AsyncEngine, folder: Path, *, sha256: str, sklearn_version: str) -> None:
    async with session_scope(make_sessionmaker(engine)) as session:
        session.add(
            ModelVersion(
                name="warm_lead",
                version="wl-doctor",
                path=str(folder),
                sha256=sha256,
                sklearn_version=sklearn_version,
                status="active",
            )
        )


async def test_an_active_model_whose_file_changed_fails_on_its_sha256(engine: AsyncEngine, tmp_path: Path) -> None:
    import sklearn

    (tmp_path / "model.skops").write_bytes(b"not the file that was registered")
    await _activate(engine, tmp_path, sha256="0" * 64, sklearn_version=sklearn.__version__)
    check = await doctor.check_model(engine)
    assert check.status == "fail" and "sha256" in check.detail


async def test_an_active_model_built_with_another_scikit_learn_fails_naming_both_versions(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    import sklearn

    body = b"some artifact"
    (tmp_path / "model.skops").write_bytes(body)
    await _activate(engine, tmp_path, sha256=hashlib.sha256(body).hexdigest(), sklearn_version="0.24.2")
    check = await doctor.check_model(engine)
    assert check.status == "fail"
    assert "0.24.2" in check.detail and sklearn.__version__ in check.detail


async def test_an_active_model_that_loads_passes(engine: AsyncEngine, trained_dir: Path) -> None:  # noqa: F811
    from scoring import artifacts

    meta = artifacts.read_meta(trained_dir)
    await _activate(engine, trained_dir, sha256=meta["sha256"], sklearn_version=meta["sklearn_version"])
    check = await doctor.check_model(engine)
    assert check.status == "ok" and "wl-doctor" in check.detail


async def test_a_watch_on_reddit_without_credentials_is_a_warning_naming_the_settings(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with session_scope(make_sessionmaker(engine)) as session:
        session.add(Watch(name="reddit only", keywords=["crm"], platforms=["reddit"]))
    bare_creds = settings.model_copy(update={"reddit_client_id": ""})
    [check] = await doctor.check_connectors(bare_creds, engine)
    assert (check.name, check.status) == ("connectors.reddit", "warn")
    assert "CRM_REDDIT_CLIENT_ID" in check.fix
    configured = settings.model_copy(update={"reddit_client_id": "id", "reddit_client_secret": SecretStr("secret")})
    assert [c.status for c in await doctor.check_connectors(configured, engine)] == ["ok"]


def test_a_nearly_full_data_folder_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert doctor.check_disk(bare(data_dir=tmp_path / "not-yet")).status == "ok"
    monkeypatch.setattr(doctor, "LOW_DISK_BYTES", 1 << 60)
    check = doctor.check_disk(bare(data_dir=tmp_path))
    assert check.status == "warn" and "CRM_DATA_DIR" in check.fix


def run_doctor(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    base = {"CRM_DATA_DIR": str(tmp_path), "CRM_DATABASE_URL": "", "CRM_REDIS_URL": "", **env}
    result = CliRunner().invoke(cli, ["doctor", *args], env=base)
    return result.exit_code, result.output


async def test_crm_doctor_prints_one_line_per_check_and_exits_1_on_a_failure(tmp_path: Path) -> None:
    code, output = await asyncio.to_thread(run_doctor, tmp_path)
    assert code == 1
    lines = output.strip().splitlines()
    assert any(line.startswith("FAIL  database.schema") and "crm db upgrade" in line for line in lines)
    assert all(line.split()[0] in ("ok", "warn", "FAIL", "skip") for line in lines)


async def test_crm_doctor_json_is_a_list_and_a_migrated_database_exits_0(settings: Settings) -> None:
    env = {
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_REDIS_URL": settings.redis_url,
        "CRM_SECRET_KEY": settings.secret_key.get_secret_value(),  # PostgreSQL is production-like
    }
    code, output = await asyncio.to_thread(run_doctor, settings.data_dir, "--json", **env)
    checks = json.loads(output)
    assert code == 0, output
    assert {c["name"] for c in checks} >= {"settings.secret_key", "database", "database.schema", "queue", "disk"}
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks)
