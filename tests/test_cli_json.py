"""Every CLI command that reports something prints one JSON document with --json, so scripts never parse prose."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crm.cli import cli
from crm.settings import Settings
from tests.listeners.builders import jsonl_record
from tests.scoring.conftest import labelled, trained_dir  # noqa: F401 -- the session's small trained model

REPORTING = [
    ("doctor",),
    ("listen", "import"),
    ("listen", "preview"),
    ("listen", "watch", "list"),
    ("listen", "quarantine", "list"),
    ("listen", "quarantine", "replay"),
    ("listen", "quarantine", "discard"),
    ("scoring", "train"),
    ("scoring", "evaluate"),
    ("scoring", "report"),
    ("scoring", "list"),
    ("scoring", "rescore"),
]


@pytest.mark.parametrize("command", REPORTING, ids=" ".join)
def test_every_reporting_command_documents_json_in_its_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "--json" in result.output


def invoke(settings: Settings, *args: str) -> Any:
    """Run one command against the test database (no Redis: imports score in this process) and parse its JSON."""
    env = {"CRM_DATABASE_URL": settings.database_url, "CRM_DATA_DIR": str(settings.data_dir), "CRM_REDIS_URL": ""}
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def test_import_quarantine_and_replay_report_as_json(settings: Settings, tmp_path: Path) -> None:
    run = asyncio.to_thread
    env = {"CRM_DATABASE_URL": settings.database_url, "CRM_DATA_DIR": str(settings.data_dir)}
    created = await run(CliRunner().invoke, cli, ["listen", "watch", "create", "crm talk", "-k", "crm"], env=env)
    assert created.exit_code == 0, created.output
    [watch] = await run(invoke, settings, "listen", "watch", "list", "--json")
    assert watch["name"] == "crm talk" and watch["keywords"] == ["crm"] and watch["active"] is True

    lines = [json.dumps(jsonl_record(f"j{i}", f"any crm that is not Salesforce? #{i}")) for i in range(3)]
    source = tmp_path / "mentions.jsonl"
    source.write_text("\n".join([*lines, '{"platform": "file", "text": "no id"}']) + "\n", encoding="utf-8")
    report = await run(invoke, settings, "listen", "import", str(source), "--watch", "crm talk", "--json")
    assert (report["stored"], report["quarantined"], report["new_leads"]) == (3, 1, 3)
    assert report["scored"] == 3 and report["queued"] == 0

    again = await run(invoke, settings, "listen", "import", str(source), "--watch", "crm talk", "--json")
    assert again["stored"] == 0 and again["duplicates"] == 3

    quarantined = await run(invoke, settings, "listen", "quarantine", "list", "--json")
    assert len(quarantined) == 2 and {q["status"] for q in quarantined} == {"open"}
    assert all(q["reason"] for q in quarantined)
    replayed = await run(invoke, settings, "listen", "quarantine", "replay", "--all", "--json")
    assert replayed == {"replayed": 0, "still_failing": 2}
    discarded = await run(invoke, settings, "listen", "quarantine", "discard", str(quarantined[0]["id"]), "--json")
    assert discarded == {"discarded": 1}

    preview = await run(invoke, settings, "listen", "preview", "--query", "salesforce", "--json")
    assert preview["matched"] == 3 and len(preview["hits"]) == 3

    rescored = await run(invoke, settings, "scoring", "rescore", "--json")
    assert rescored == {"scored": 3, "which": "open", "model": "baseline-rules-1"}
    assert await run(invoke, settings, "scoring", "list", "--json") == []


async def test_an_empty_quarantine_is_an_empty_json_list(settings: Settings) -> None:
    assert await asyncio.to_thread(invoke, settings, "listen", "quarantine", "list", "--json") == []


def test_evaluate_and_report_print_one_json_object(trained_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "held_out.csv"
    labelled(n=120, seed=11)[["text", "warm"]].rename(columns={"warm": "label"}).to_csv(data, index=False)
    common = ["--model", str(trained_dir), "--data", str(data), "--json"]
    evaluated = CliRunner().invoke(cli, ["scoring", "evaluate", *common])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["n"] == 120
    report = CliRunner().invoke(cli, ["scoring", "report", *common, "--out", str(tmp_path / "r")])
    assert report.exit_code == 0, report.output
    written = json.loads(report.output)
    assert written["metrics"]["model"] == "wl-test-1"
    assert {Path(p).name for p in written["files"]} >= {"report.md", "roc.png"}


def test_train_prints_one_json_object_with_its_version_and_held_out_metrics(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    labelled(n=240, seed=5)[["text", "warm"]].rename(columns={"warm": "label"}).to_csv(data, index=False)
    args = ["scoring", "train", "--data", str(data), "--out", str(tmp_path / "m"), "--version", "wl-json", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    trained = json.loads(result.output)
    assert trained["version"] == "wl-json" and trained["out"] == str(tmp_path / "m")
    assert 0 < trained["n_train"] < 240 and {"roc_auc", "f1"} <= trained["metrics"].keys()
