"""The bulk path's own machinery: driver-ready values, ids without read-backs, and writers racing for the same rows."""

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.db import make_sessionmaker, session_scope
from crm.models import (
    ChangeLog,
    Contact,
    Lead,
    Mention,
    MentionMatch,
    PlatformAccount,
    WebhookEvent,
    WebhookSubscription,
)
from listeners.base import Author
from listeners.bulk_insert import BulkInsert, codec_for, json_text
from listeners.ingest import REFUSED_BY_STORE, ingest_batch
from listeners.intake import Rejected
from listeners.store import MENTION, save_mentions
from tests.listeners.builders import make_watch, mention


async def test_values_bound_by_the_bulk_path_read_back_like_orm_written_ones(session: AsyncSession) -> None:
    watch = await make_watch(session)
    posted = datetime(2026, 11, 20, 9, 12, 3, 500, tzinfo=timezone(timedelta(hours=2)))
    await save_mentions(
        session,
        watch,
        [mention(created_at=posted, raw={"id": "m-1", "nested": {"emoji": "café ☕", "n": 2**70}})],
    )
    orm = Mention(platform="file", external_id="orm", posted_at=posted, raw={"id": "orm"})
    session.add(orm)
    await session.commit()
    rows = {m.external_id: m for m in (await session.exec(select(Mention))).all()}
    assert rows["m-1"].posted_at == rows["orm"].posted_at == posted
    assert rows["m-1"].posted_at.tzinfo is not None
    assert rows["m-1"].raw == {"id": "m-1", "nested": {"emoji": "café ☕", "n": 2**70}}
    conn = await session.connection()
    if conn.dialect.name == "sqlite":  # the stored text itself, so ORDER BY and range filters agree with the ORM's
        stored = (await conn.exec_driver_sql("SELECT posted_at FROM mention ORDER BY id")).all()
        assert stored[0] == stored[1]


def test_json_the_fast_encoder_cannot_take_is_left_to_json_or_refused_like_json_does() -> None:
    assert json_text({"big": 2**70, "text": "ü"}) in ('{"big":1180591620717411303424,"text":"ü"}',)
    refused = None
    try:
        json_text({"when": object()})
    except TypeError as exc:
        refused = exc
    assert refused is not None


async def test_ids_come_back_in_row_order_and_a_row_someone_else_stored_first_gets_none(
    session: AsyncSession,
) -> None:
    conn = await session.connection()
    codec = codec_for(conn)
    stamp = codec.ts(datetime(2026, 11, 20, tzinfo=UTC))
    inserter = BulkInsert(
        MENTION, ["platform", "external_id", "content_hash", "fetched_at"], ["platform", "external_id"]
    )
    first = await inserter.run_with_ids(conn, [("file", f"a{i}", "", stamp) for i in range(5)])
    again = await inserter.run_with_ids(
        conn, [("file", "a0", "", stamp), ("file", "b", "", stamp), ("file", "a3", "", stamp), ("file", "c", "", stamp)]
    )
    assert None not in first and first == sorted(first) and len(set(first)) == 5
    assert again[0] is None and again[2] is None
    stored = dict((await session.exec(select(Mention.external_id, Mention.id))).all())  # type: ignore[arg-type]
    assert [stored[f"a{i}"] for i in range(5)] == first
    assert (stored["b"], stored["c"]) == (again[1], again[3])


async def test_a_known_account_without_a_contact_gets_one_and_keeps_its_id(session: AsyncSession) -> None:
    watch = await make_watch(session)
    contact = Contact(display_name="Someone else")
    session.add(contact)
    await session.flush()
    session.add(PlatformAccount(platform="file", handle="maria_ops", contact_id=None))
    await session.flush()
    result = await save_mentions(session, watch, [mention()])
    await session.commit()
    account = (await session.exec(select(PlatformAccount))).one()
    stored = (await session.exec(select(Mention))).one()
    assert stored.account_id == account.id
    assert account.contact_id is not None and account.contact_id != contact.id
    assert stored.contact_id == account.contact_id and result.new_contacts == [account.contact_id]
    contacts = (await session.exec(select(Contact.id).order_by(col(Contact.id)))).all()
    assert contacts == [contact.id, account.contact_id]


def subscription(*events: str, active: bool = True) -> WebhookSubscription:
    return WebhookSubscription(url="https://hooks.example.org/in", events=list(events), secret="s" * 32, active=active)


async def test_a_batch_writes_one_event_and_one_change_per_new_lead_and_contact(session: AsyncSession) -> None:
    watch = await make_watch(session)
    session.add(subscription("*"))
    items = [mention(f"m-{i}", f"crm question number {i}", handle=f"author{i % 3}") for i in range(9)]
    items += [mention("off", "nothing relevant here", handle="quiet")]
    result = await save_mentions(session, watch, items)
    await session.commit()
    leads = (await session.exec(select(Lead.id).order_by(col(Lead.id)))).all()
    assert result.new_leads == list(leads) and len(leads) == 3
    events = (await session.exec(select(WebhookEvent.type, WebhookEvent.payload))).all()
    assert sorted(p["lead_id"] for t, p in events if t == "lead.created") == list(leads)
    matched = [p for t, p in events if t == "mention.matched"]
    assert len(matched) == result.matched == 9
    assert sorted(p["mention_id"] for p in matched) == sorted(result.new_mentions[:9])
    assert {(tuple(p["matched_terms"]), tuple(p["matched_competitors"])) for p in matched} == {(("crm",), ())}
    changes = (await session.exec(select(ChangeLog.entity, ChangeLog.entity_id, ChangeLog.op))).all()
    assert sorted(changes) == sorted(
        [("lead", i, "create") for i in leads] + [("contact", i, "create") for i in result.new_contacts]
    )
    assert len(result.new_contacts) == 4  # three authors who matched and the quiet one


async def test_a_batch_writes_only_the_events_some_active_subscription_receives(session: AsyncSession) -> None:
    watch = await make_watch(session)
    session.add(subscription("lead.created"))
    session.add(subscription("mention.matched", active=False))
    first = await save_mentions(session, watch, [mention("a", "crm question", handle="ana")])
    await session.commit()
    types = (await session.exec(select(WebhookEvent.type))).all()
    assert types == ["lead.created"] and len(first.new_leads) == 1 and first.matched == 1

    for sub in (await session.exec(select(WebhookSubscription))).all():
        sub.active = False
    await session.commit()
    second = await save_mentions(session, watch, [mention("b", "crm question", handle="bo")])
    await session.commit()
    assert len(second.new_leads) == 1
    assert (await session.exec(select(WebhookEvent.type))).all() == ["lead.created"]  # nobody listens: no event


async def test_a_batch_rolled_back_after_it_was_saved_leaves_nothing_behind(engine: AsyncEngine) -> None:
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = await make_watch(session)
    try:
        async with session_scope(sessionmaker) as session:
            result = await save_mentions(session, watch, [mention("a", "crm question"), mention("b", "crm too")])
            assert len(result.new_mentions) == 2 and result.new_leads
            raise RuntimeError("the unit of work fails after the batch was written")
    except RuntimeError:
        pass
    async with session_scope(sessionmaker) as session:
        for table in (Mention, MentionMatch, Lead, Contact, PlatformAccount, ChangeLog):
            assert (await session.exec(select(table))).all() == [], table.__name__


async def test_a_naive_author_timestamp_is_refused_for_that_row_only(session: AsyncSession) -> None:
    watch = await make_watch(session)
    naive = Author(handle="naive", account_created_at=datetime(2020, 1, 1))
    result = await save_mentions(session, watch, [mention("ok"), mention("bad", author=naive)])
    await session.commit()
    assert [m.external_id for m in (await session.exec(select(Mention))).all()] == ["ok"]
    assert result.quarantined == 1 and len(result.new_mentions) == 1
    contacts = (await session.exec(select(Contact))).all()
    assert len(contacts) == 1  # the refused row left no half-made author behind


async def test_one_batch_reports_what_it_received_stored_skipped_and_why_it_quarantined(session: AsyncSession) -> None:
    watch = await make_watch(session)
    await session.commit()
    items = [
        mention("r-1"),
        mention("r-1"),  # the same post twice in one batch
        Rejected(2, "text is missing", '{"id": "r-2"}'),
        mention("x" * 201, "crm for a small team?"),  # an id past the store's own limit
        mention("r-4", "nothing to match here"),
    ]
    report = await ingest_batch(session, watch, items, source="file", queue=None)
    assert (report.received, report.stored, report.duplicates, report.matched) == (5, 2, 1, 1)
    assert (report.new_leads, report.batches, report.quarantined) == (1, 1, 2)
    assert report.quarantine_reasons == {"text is missing": 1, REFUSED_BY_STORE: 1}
    [lead_id] = report.lead_ids
    assert (await session.exec(select(Lead.id))).all() == [lead_id]
    assert report.public().model_dump() == {
        "stored": 2,
        "duplicates": 1,
        "matched": 1,
        "new_leads": 1,
        "quarantined": 2,
        "suppressed": 0,
    }
