import asyncio
import csv
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from redis.asyncio import Redis
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Lead, Mention, MentionMatch, QuarantinedPayload, Watch
from crm.settings import Settings
from listeners.commands import listen
from tests.listeners.builders import jsonl_record

ROOT = Path(__file__).resolve().parents[2]


def environment(settings: Settings) -> dict[str, str]:
    return {
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_REDIS_URL": settings.redis_url,
        "CRM_QUEUE_NAME": settings.queue_name,
        "CRM_SECRET_KEY": settings.secret_key.get_secret_value(),
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_LOG_LEVEL": "WARNING",
    }


async def crm_listen(settings: Settings, *args: str) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, listen, list(args), env=environment(settings))


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


async def test_a_watch_is_created_and_a_file_imported_from_the_command_line(
    settings: Settings, session: AsyncSession, tmp_path: Path
) -> None:
    created = await crm_listen(
        settings,
        "watch",
        "create",
        "CRM alternatives",
        "-k",
        "crm",
        "-q",
        "crm AND NOT hiring",
        "-c",
        "Salesforce:sfdc",
    )
    assert created.exit_code == 0, created.output
    path = write_jsonl(
        tmp_path / "mentions.jsonl",
        [jsonl_record("1"), jsonl_record("2", "we are hiring a crm admin"), "{broken", jsonl_record("3", "sfdc crm??")],
    )
    imported = await crm_listen(settings, "import", str(path), "--watch", "CRM alternatives")
    assert imported.exit_code == 0, imported.output
    assert "stored 3, duplicates 0, reposts 0, matched 2, new leads 2, quarantined 1" in imported.output
    again = await crm_listen(settings, "import", str(path), "--watch", "CRM alternatives")
    assert "stored 0, duplicates 3" in again.output
    watch = (await session.exec(select(Watch))).one()
    assert watch.query == "crm AND NOT hiring"
    assert watch.competitors == [{"name": "Salesforce", "aliases": ["sfdc"], "handles": []}]


async def test_a_csv_file_is_imported_with_author_columns(
    settings: Settings, session: AsyncSession, tmp_path: Path
) -> None:
    assert (await crm_listen(settings, "watch", "create", "csv", "-k", "crm")).exit_code == 0
    path = tmp_path / "mentions.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["platform", "id", "text", "created_at", "url", "author_handle", "author_followers"])
        writer.writerow(["reddit", "c1", "any good crm?", "2026-11-20T09:00:00Z", "https://r/1", "ann", "40"])
        writer.writerow(["reddit", "c2", "crm again", "not a date", "https://r/2", "bo", "4"])
    result = await crm_listen(settings, "import", str(path), "--watch", "csv")
    assert "stored 1" in result.output and "quarantined 1" in result.output
    stored = (await session.exec(select(Mention))).one()
    assert (stored.platform, stored.external_id) == ("reddit", "c1")


async def test_command_line_mistakes_are_one_line_errors(settings: Settings, tmp_path: Path) -> None:
    bad_query = await crm_listen(settings, "watch", "create", "w", "-q", "crm NEAR/ x")
    assert bad_query.exit_code == 1
    assert bad_query.output.strip() == "error: query: NEAR needs a distance, as in NEAR/3 (at position 4)"
    missing = await crm_listen(settings, "import", str(tmp_path / "none.jsonl"), "--watch", "nope")
    assert missing.exit_code == 1 and missing.output.startswith("error: no watch named 'nope'")
    assert missing.output.count("\n") == 1


async def test_preview_prints_what_a_query_would_match(settings: Settings, tmp_path: Path) -> None:
    await crm_listen(settings, "watch", "create", "w", "-k", "crm")
    path = write_jsonl(tmp_path / "m.jsonl", [jsonl_record("1", "crm pricing hurts"), jsonl_record("2", "crm is fine")])
    await crm_listen(settings, "import", str(path), "--watch", "w")
    shown = await crm_listen(settings, "preview", "--query", "crm AND pricing")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "1 of 2 mentions match"
    assert "[crm, pricing]" in lines[1] and "crm pricing hurts" in lines[1]


async def test_the_quarantine_is_listed_replayed_and_discarded(
    settings: Settings, session: AsyncSession, tmp_path: Path
) -> None:
    await crm_listen(settings, "watch", "create", "w", "-k", "crm")
    watch = (await session.exec(select(Watch))).one()
    # As if the cause of the first had been fixed since (a platform added, a bug in a connector repaired).
    fixed = QuarantinedPayload(
        source="file", watch_id=watch.id, reason="unknown platform", body=json.dumps(jsonl_record("q1"))
    )
    broken = QuarantinedPayload(source="file", watch_id=watch.id, reason="line 3: not valid JSON", body="{oops")
    session.add_all([fixed, broken])
    await session.commit()

    listed = await crm_listen(settings, "quarantine", "list")
    assert listed.exit_code == 0
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == [str(broken.id), str(fixed.id)]

    replayed = await crm_listen(settings, "quarantine", "replay", "--all")
    assert replayed.output.strip() == "replayed 1, still failing 1"
    assert (await session.exec(select(Mention.external_id))).all() == ["q1"]

    discarded = await crm_listen(settings, "quarantine", "discard", str(broken.id))
    assert discarded.output.strip() == "discarded 1"
    session.expire_all()
    statuses = {row.id: row.status for row in await session.exec(select(QuarantinedPayload))}
    assert statuses == {fixed.id: "replayed", broken.id: "discarded"}


async def count(engine: AsyncEngine, model: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.timeout(300)
async def test_an_import_killed_mid_run_and_run_again_stores_every_mention_exactly_once(
    settings: Settings, engine: AsyncEngine, session: AsyncSession, tmp_path: Path
) -> None:
    total, authors = 8000, 1500
    await crm_listen(settings, "watch", "create", "big", "-k", "crm")
    records = [
        jsonl_record(str(i), f"crm question number {i} from me", handle=f"user{i % authors}") for i in range(total)
    ]
    path = write_jsonl(tmp_path / "big.jsonl", records)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CRM_")}, **environment(settings)}
    command = [sys.executable, "-m", "crm", "listen", "import", str(path), "--watch", "big", "--batch-size", "100"]

    process = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        seen = 0
        for _ in range(3000):
            seen = await count(engine, Mention)
            if seen >= 800 or process.returncode is not None:
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = await count(engine, Mention)
    assert 0 < killed_at < total

    rerun = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(rerun.communicate(), 240)
    assert rerun.returncode == 0, err.decode()
    assert f"duplicates {killed_at}" in out.decode()

    assert await count(engine, Mention) == total
    distinct = (await session.exec(select(func.count(func.distinct(Mention.external_id))))).one()
    assert distinct == total
    assert await count(engine, MentionMatch) == total
    lead_ids = list(await session.exec(select(Lead.id).order_by(col(Lead.id))))
    assert len(lead_ids) == authors

    # Leads committed just before the kill never lost their scoring job: the re-run enqueued them.
    redis = Redis.from_url(settings.redis_url)
    try:
        queued = {key.decode() async for key in redis.scan_iter(match=f"arq:job:{settings.queue_name}:score:lead:*")}
    finally:
        await redis.aclose()
    assert queued == {f"arq:job:{settings.queue_name}:score:lead:{lead_id}:initial" for lead_id in lead_ids}


async def crm_listen_without_redis(settings: Settings, *args: str) -> Result:
    env = {**environment(settings), "CRM_REDIS_URL": ""}
    return await asyncio.to_thread(CliRunner().invoke, listen, list(args), env=env)


async def test_an_import_with_no_redis_configured_scores_every_new_lead_in_the_process(
    settings: Settings, session: AsyncSession, tmp_path: Path
) -> None:
    await crm_listen(settings, "watch", "create", "w", "-k", "crm", "-c", "Salesforce")
    records = [jsonl_record(str(i), f"which crm should we pick, post {i}?") for i in range(5)]
    path = write_jsonl(tmp_path / "m.jsonl", [*records, jsonl_record("sf", "any crm that isn't Salesforce?")])
    imported = await crm_listen_without_redis(settings, "import", str(path), "--watch", "w")
    assert imported.exit_code == 0, imported.output
    assert "new leads 6" in imported.output
    assert imported.output.splitlines()[-1] == "scored 6 leads in this process (CRM_REDIS_URL is not set)"
    leads = list(await session.exec(select(Lead)))
    assert len(leads) == 6 and all(lead.score is not None and lead.model_version for lead in leads)
    mentions = list(await session.exec(select(Mention)))
    assert all(m.sentiment is not None for m in mentions)  # the analysis job's work is done here too


async def test_an_import_with_no_redis_also_scores_the_leads_an_earlier_run_left_unscored(
    settings: Settings, session: AsyncSession, tmp_path: Path
) -> None:
    await crm_listen(settings, "watch", "create", "w", "-k", "crm")
    first = write_jsonl(tmp_path / "a.jsonl", [jsonl_record("1", "crm help?"), jsonl_record("2", "crm advice?")])
    # With a Redis URL but no worker, the jobs wait there; as if they were lost with an embedded server.
    assert (await crm_listen(settings, "import", str(first), "--watch", "w")).exit_code == 0
    assert [lead.score for lead in await session.exec(select(Lead))] == [None, None]
    second = write_jsonl(tmp_path / "b.jsonl", [jsonl_record("3", "crm tips?")])
    imported = await crm_listen_without_redis(settings, "import", str(second), "--watch", "w")
    assert imported.output.splitlines()[-1] == "scored 3 leads in this process (CRM_REDIS_URL is not set)"
    session.expire_all()
    assert all(lead.score is not None for lead in await session.exec(select(Lead)))


async def test_a_quarantined_payload_replayed_with_no_redis_gets_its_lead_scored(
    settings: Settings, session: AsyncSession
) -> None:
    await crm_listen(settings, "watch", "create", "w", "-k", "crm")
    watch = (await session.exec(select(Watch))).one()
    session.add(QuarantinedPayload(source="file", watch_id=watch.id, reason="x", body=json.dumps(jsonl_record("q"))))
    await session.commit()
    replayed = await crm_listen_without_redis(settings, "quarantine", "replay", "--all")
    assert replayed.output.strip() == "replayed 1, still failing 0"
    [lead] = (await session.exec(select(Lead))).all()
    assert lead.score is not None
