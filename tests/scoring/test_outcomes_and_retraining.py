from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from crm.db import make_sessionmaker, session_scope
from crm.models import AuditEvent, Conversation, Message, ModelStatus, StageChange, utcnow
from scoring import registry
from scoring.dataset import load_labelled, outcome_frame, outcome_labels
from scoring.lifecycle import retrain_from_outcomes
from tests.scoring.conftest import labelled, make_lead


async def test_crm_outcomes_become_labels(engine: AsyncEngine) -> None:
    async with session_scope(make_sessionmaker(engine)) as session:
        won = await make_lead(session, "need a new crm", handle="won")
        won.stage = "won"
        lost = await make_lead(session, "meh", handle="lost")
        session.add(StageChange(lead_id=lost.id or 0, from_stage="new", to_stage="lost"))
        replied = await make_lead(session, "hi", handle="replied")
        ghosted = await make_lead(session, "x", handle="ghosted")
        waiting = await make_lead(session, "y", handle="waiting")
        for lead in (replied, ghosted, waiting):
            conversation = Conversation(lead_id=lead.id or 0, contact_id=lead.contact_id, platform="file")
            session.add(conversation)
            await session.flush()
            old = utcnow() - timedelta(days=30 if lead is not waiting else 1)
            for n in range(2):
                session.add(
                    Message(
                        conversation_id=conversation.id or 0,
                        lead_id=lead.id or 0,
                        direction="outbound",
                        platform="file",
                        status="sent",
                        body="hello",
                        sent_at=old,
                        external_id=f"{lead.id}-{n}",
                    )
                )
        session.add(
            Message(
                conversation_id=conversation.id or 0,
                lead_id=replied.id or 0,
                direction="inbound",
                platform="file",
                status="received",
                body="tell me more",
                external_id="in-1",
            )
        )
        await session.flush()
        labels = {label.lead_id: label.label for label in await outcome_labels(session)}
        assert labels == {won.id: 1, lost.id: 0, replied.id: 1, ghosted.id: 0}
        df, ys = await outcome_frame(session, await outcome_labels(session))
        assert len(df) == 4 and sorted(ys) == [0, 0, 1, 1] and "followers" in df.columns


async def test_the_retrain_job_promotes_a_first_model_and_waits_for_new_labels(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    rows = labelled(n=120, seed=5)
    async with session_scope(make_sessionmaker(engine)) as session:
        for i, (text, label) in enumerate(zip(rows["text"], rows["warm"], strict=True)):
            lead = await make_lead(session, text, handle=f"h{i}")
            lead.stage = "replied" if label else "lost"
        await session.flush()
        first = await retrain_from_outcomes(session, tmp_path, min_new_labels=50)
        assert first.status == "promoted" and first.candidate is not None
        active = await registry.active(session)
        assert active is not None and active.version == first.version and active.metrics["n_labels"] == 120
        assert active.data_hash and active.sha256 and active.status == ModelStatus.ACTIVE.value
        audited = (await session.exec(select(AuditEvent).where(AuditEvent.action == "model.promote"))).all()
        assert [(e.actor, e.detail["version"]) for e in audited] == [("scoring-retrain", first.version)]
        again = await retrain_from_outcomes(session, tmp_path, min_new_labels=50)
        assert again.status == "skipped"


def test_labelled_files_name_the_missing_column_and_the_bad_row(tmp_path: Path) -> None:
    import pytest

    from crm.errors import InvalidInput

    good = tmp_path / "a.jsonl"
    good.write_text('{"body": "x", "y": 1, "followers": 10}\n{"body": "z", "y": "no"}\n')
    df, labels = load_labelled([good], text_column="body", label_column="y")
    assert labels == [1, 0] and df["followers"].tolist()[0] == 10
    with pytest.raises(InvalidInput, match="no text column 'text'"):
        load_labelled([good])
    bad = tmp_path / "b.csv"
    bad.write_text("text,label\nhello,maybe\n")
    with pytest.raises(InvalidInput, match="row 2 has 'maybe'"):
        load_labelled([bad])
