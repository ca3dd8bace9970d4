from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import AccountSnapshot, Lead, Mention, MentionMatch, PlatformAccount, QuarantinedPayload
from listeners.base import Author
from listeners.intake import Rejected
from listeners.store import save_mentions
from scoring.growth import SNAPSHOT_INTERVAL
from tests.listeners.builders import make_watch, mention


async def test_a_mention_is_stored_once_however_often_it_arrives(session: AsyncSession) -> None:
    watch = await make_watch(session)
    first = await save_mentions(session, watch, [mention(), mention(), mention("m-2", "nothing to see")])
    again = await save_mentions(session, watch, [mention()])
    await session.commit()
    assert (len(first.new_mentions), first.duplicates, first.matched, len(first.new_leads)) == (2, 1, 1, 1)
    assert (len(again.new_mentions), again.duplicates, again.matched, again.new_leads) == (0, 1, 0, [])
    assert len((await session.exec(select(Mention))).all()) == 2


async def test_a_stored_mention_records_its_terms_competitors_author_and_lead(session: AsyncSession) -> None:
    watch = await make_watch(session)
    result = await save_mentions(session, watch, [mention(text="Is there a #CRM cheaper than @Salesforce?")])
    await session.commit()
    stored = (await session.exec(select(Mention))).one()
    assert stored.matched_terms == ["crm"] and stored.matched_competitors == ["Salesforce"]
    assert stored.language == "en" and stored.raw["id"] == "m-1"
    match = (await session.exec(select(MentionMatch))).one()
    assert (match.mention_id, match.watch_id, match.matched_competitors) == (stored.id, watch.id, ["Salesforce"])
    account = (await session.exec(select(PlatformAccount))).one()
    assert (account.handle, account.followers, account.contact_id) == ("maria_ops", 2300, stored.contact_id)
    lead = (await session.exec(select(Lead))).one()
    assert result.new_leads == [lead.id]
    assert (lead.contact_id, lead.watch_id, lead.first_mention_id, lead.stage) == (
        stored.contact_id,
        watch.id,
        stored.id,
        "new",
    )


async def test_reposts_and_cross_posts_are_linked_to_the_first_copy_and_open_no_lead(session: AsyncSession) -> None:
    watch = await make_watch(session)
    text = "We need a CRM that is not Salesforce, any ideas?"
    result = await save_mentions(
        session,
        watch,
        [
            mention("a", text, handle="origin"),
            mention("b", f"RT @origin: {text}", handle="fan"),
            mention("c", f"{text} https://example.org/x", platform="reddit", handle="crossposter"),
        ],
    )
    later = await save_mentions(session, watch, [mention("d", text.upper(), handle="late")])
    await session.commit()
    rows = {m.external_id: m for m in (await session.exec(select(Mention))).all()}
    original = rows["a"].id
    assert rows["a"].duplicate_of_id is None
    assert [rows[k].duplicate_of_id for k in "bcd"] == [original] * 3
    assert (len(result.new_leads), result.reposts, later.reposts, later.new_leads) == (1, 2, 1, [])


async def test_two_spellings_of_one_handle_are_one_author_with_one_lead(session: AsyncSession) -> None:
    watch = await make_watch(session)
    result = await save_mentions(
        session,
        watch,
        [
            mention("1", "crm one", handle="ann"),
            mention("2", "crm two", handle="@Ann"),
            mention("3", "crm 3", handle="bo"),
        ],
    )
    await session.commit()
    assert len(result.new_leads) == 2
    assert len((await session.exec(select(PlatformAccount))).all()) == 2


async def test_a_mention_seen_by_a_second_watch_is_matched_and_leads_there_too(session: AsyncSession) -> None:
    first = await make_watch(session)
    second = await make_watch(session, name="Salesforce churn", keywords=["pricing"], competitors=[])
    await save_mentions(session, first, [mention(text="crm pricing is awful")])
    result = await save_mentions(session, second, [mention(text="crm pricing is awful")])
    await session.commit()
    assert (result.duplicates, result.matched, len(result.new_leads)) == (1, 1, 1)
    watches = (await session.exec(select(MentionMatch.watch_id).order_by(col(MentionMatch.watch_id)))).all()
    assert watches == [first.id, second.id]


async def test_excluded_authors_and_terms_are_stored_but_never_matched(session: AsyncSession) -> None:
    watch = await make_watch(session, excluded_authors=["@Recruiter"], excluded_terms=["hiring"])
    result = await save_mentions(
        session, watch, [mention("1", "crm admin wanted", handle="recruiter"), mention("2", "hiring a crm admin")]
    )
    await session.commit()
    assert (len(result.new_mentions), result.matched, result.new_leads) == (2, 0, [])


async def test_a_watch_limited_to_languages_skips_mentions_in_others(session: AsyncSession) -> None:
    watch = await make_watch(session, languages=["en"])
    result = await save_mentions(
        session,
        watch,
        [
            mention("1", "¿Alguien conoce un CRM mejor que Salesforce para nuestro equipo?"),
            mention("2", "Kennt jemand ein CRM, das nicht Salesforce ist?", handle="de"),
            mention("3", "Anyone know a CRM that is not Salesforce?", handle="en"),
            mention("4", "crm", handle="told", language="EN"),
        ],
    )
    await session.commit()
    languages = {m.external_id: m.language for m in (await session.exec(select(Mention))).all()}
    assert languages == {"1": "es", "2": "de", "3": "en", "4": "en"}
    assert result.matched == 2


async def test_bad_payloads_are_quarantined_and_the_rest_of_the_batch_is_kept(session: AsyncSession) -> None:
    watch = await make_watch(session)
    result = await save_mentions(
        session,
        watch,
        [
            mention("ok-1"),
            Rejected(3, "not valid JSON", "{oops"),
            mention("x" * 300),
            mention("ok-2", handle="second", likes=2**40),
            mention("ok-3", handle="third", raw={"when": object()}),
            mention("ok-4", handle="fourth"),
        ],
    )
    await session.commit()
    stored = sorted(m.external_id for m in (await session.exec(select(Mention))).all())
    assert stored == ["ok-1", "ok-4"]
    assert result.quarantined == 4
    reasons = [q.reason for q in (await session.exec(select(QuarantinedPayload).order_by(col(QuarantinedPayload.id))))]
    assert reasons[0] == "line 3: not valid JSON"
    assert "external_id is longer than 200" in reasons[1]
    assert "likes must be a whole number" in reasons[2]
    assert reasons[3].startswith("database refused it")


async def test_an_authors_reach_is_refreshed_without_losing_what_was_known(session: AsyncSession) -> None:
    watch = await make_watch(session)
    await save_mentions(session, watch, [mention("1", author=Author(handle="ann", display_name="Ann", followers=10))])
    await save_mentions(session, watch, [mention("2", author=Author(handle="ann", following=5, followers=None))])
    await session.commit()
    account = (await session.exec(select(PlatformAccount))).one()
    assert (account.display_name, account.followers, account.following) == ("Ann", 10, 5)


async def _snapshots(session: AsyncSession) -> list[tuple[int | None, int | None, int | None]]:
    rows = (await session.exec(select(AccountSnapshot).order_by(col(AccountSnapshot.id)))).all()
    return [(s.followers, s.following, s.posts_count) for s in rows]


async def a_day_passes_for(session: AsyncSession, handle: str) -> None:
    account = (await session.exec(select(PlatformAccount).where(PlatformAccount.handle == handle))).one()
    assert account.snapshot_at is not None
    account.snapshot_at -= SNAPSHOT_INTERVAL + timedelta(minutes=1)
    session.add(account)
    await session.flush()


async def test_an_author_seen_again_a_day_later_with_new_figures_gets_a_second_snapshot(session: AsyncSession) -> None:
    watch = await make_watch(session)
    await save_mentions(session, watch, [mention("1", author=Author(handle="ann", followers=100, following=7))])
    await a_day_passes_for(session, "ann")
    await save_mentions(session, watch, [mention("2", author=Author(handle="ann", followers=140))])
    await session.commit()
    account = (await session.exec(select(PlatformAccount))).one()
    snapshots = (await session.exec(select(AccountSnapshot))).all()
    assert {s.account_id for s in snapshots} == {account.id}
    # A figure the platform did not send keeps its last known value.
    assert await _snapshots(session) == [(100, 7, None), (140, 7, None)]
    assert account.snapshot_at == snapshots[-1].at


async def test_an_author_posting_all_day_gets_one_snapshot_a_day_and_current_figures(session: AsyncSession) -> None:
    watch = await make_watch(session)
    for i, followers in enumerate((100, 101, 103)):
        await save_mentions(session, watch, [mention(f"{i}", author=Author(handle="ann", followers=followers))])
    account = (await session.exec(select(PlatformAccount))).one()
    assert await _snapshots(session) == [(100, None, None)] and account.followers == 103
    await a_day_passes_for(session, "ann")
    await save_mentions(session, watch, [mention("later", author=Author(handle="ann", followers=103))])
    assert await _snapshots(session) == [(100, None, None)]  # unchanged since yesterday's figures: nothing new
    await save_mentions(session, watch, [mention("later-2", author=Author(handle="ann", followers=110))])
    await save_mentions(session, watch, [mention("later-3", author=Author(handle="ann", followers=120))])
    await session.commit()
    assert await _snapshots(session) == [(100, None, None), (110, None, None)]


async def test_ingesting_an_author_with_unchanged_figures_records_no_snapshot(session: AsyncSession) -> None:
    watch = await make_watch(session)
    await save_mentions(session, watch, [mention("1", author=Author(handle="ann", followers=100, posts_count=9))])
    before = await _snapshots(session)
    await save_mentions(
        session,
        watch,
        [
            mention("2", author=Author(handle="ann", followers=100, posts_count=9)),
            mention("3", author=Author(handle="ann", followers=None)),
            mention("4", author=Author(handle="bob")),  # no figures at all: nothing to record
        ],
    )
    await session.commit()
    assert before == [(100, None, 9)]
    assert await _snapshots(session) == before
