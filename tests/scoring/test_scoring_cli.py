import json
from pathlib import Path

from click.testing import CliRunner

from crm.cli import cli
from crm.settings import Settings
from tests.scoring.conftest import labelled


def test_train_then_evaluate_prints_held_out_metrics_and_one_json_object(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    labelled(n=300, seed=7)[["text", "warm"]].rename(columns={"warm": "label"}).to_csv(data, index=False)
    runner = CliRunner()
    trained = runner.invoke(
        cli, ["scoring", "train", "--data", str(data), "--out", str(tmp_path / "m"), "--version", "wl-cli"]
    )
    assert trained.exit_code == 0, trained.output
    assert "trained wl-cli" in trained.output and '"roc_auc"' in trained.output
    evaluated = runner.invoke(
        cli, ["scoring", "evaluate", "--model", str(tmp_path / "m"), "--data", str(data), "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)
    assert {"n", "roc_auc", "average_precision", "f1", "brier"} <= result.keys() and result["n"] == 300
    report = runner.invoke(
        cli, ["scoring", "report", "--model", str(tmp_path / "m"), "--data", str(data), "--out", str(tmp_path / "r")]
    )
    assert report.exit_code == 0, report.output
    assert {p.name for p in (tmp_path / "r").iterdir()} == {
        "calibration.png",
        "roc.png",
        "pr.png",
        "histogram.png",
        "report.md",
    }


def test_a_missing_column_or_file_is_one_line_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("body,label\nhi,1\n")
    result = CliRunner().invoke(cli, ["scoring", "train", "--data", str(data), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {data}: no text column 'text' (columns: body, label)"
    missing = CliRunner().invoke(cli, ["scoring", "evaluate", "--model", str(tmp_path / "nope"), "--data", str(data)])
    assert missing.exit_code == 1 and missing.output.startswith("error: ") and "Traceback" not in missing.output


async def test_register_promote_and_rollback_from_the_command_line(settings: Settings, trained_dir: Path) -> None:
    env = {"CRM_DATABASE_URL": settings.database_url, "CRM_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["scoring", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    import asyncio

    async def in_thread(*args: str) -> str:
        return await asyncio.to_thread(run, *args)

    assert "registered wl-test-1 as candidate" in await in_thread("register", str(trained_dir))
    assert "wl-test-1 is active" in await in_thread("promote", "wl-test-1")
    assert "active" in await in_thread("list")
    assert "rolled back to the baseline" in await in_thread("rollback")

    from sqlmodel import col, select

    from crm.db import make_engine, make_sessionmaker, session_scope
    from crm.models import AuditEvent

    engine = make_engine(settings)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            query = select(AuditEvent).where(col(AuditEvent.action).startswith("model.")).order_by(col(AuditEvent.id))
            events = (await session.exec(query)).all()
    finally:
        await engine.dispose()
    assert [(e.action, e.actor, e.detail["version"]) for e in events] == [
        ("model.promote", "cli", "wl-test-1"),
        ("model.rollback", "cli", "wl-test-1"),
    ]
