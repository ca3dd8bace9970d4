from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db import make_sessionmaker, session_scope
from crm.models import AccountSnapshot, Mention, MentionMatch, PlatformAccount, Watch, utcnow
from crm.settings import Settings
from crm.worker import worker_options
from scoring.growth import follower_growth, growth_by_account, snapshot_figures
from scoring.influencer import AccountSignals, authenticity, score_account, topical_relevance, watch_terms
from scoring.jobs import score_influencers


async def new_account(session: Any, handle: str = "ana_codes", followers: int = 1210) -> PlatformAccount:
    account = PlatformAccount(platform="x", handle=handle, followers=followers, following=300, posts_count=900)
    session.add(account)
    await session.flush()
    return account


def test_a_snapshot_is_due_only_when_a_figure_changed_and_a_missing_figure_keeps_its_last_value() -> None:
    assert snapshot_figures((1000, 300, 900), None) == (1000, 300, 900)
    assert snapshot_figures((1000, 300, 900), (1000, 300, 900)) is None  # same figures again: nothing new
    assert snapshot_figures((1100, None, None), (1000, 300, 900)) == (1100, 300, 900)
    assert snapshot_figures((None, None, None), (1100, 300, 900)) is None
    assert snapshot_figures((None, None, None), None) is None  # no figures at all: nothing to record


def snapshot(account_id: int, followers: int, at: datetime) -> AccountSnapshot:
    return AccountSnapshot(account_id=account_id, followers=followers, at=at)


async def test_growth_over_7_and_30_days_is_read_from_the_snapshots(engine: AsyncEngine) -> None:
    now = utcnow()
    async with session_scope(make_sessionmaker(engine)) as session:
        account = await new_account(session, followers=1210)
        assert account.id is not None
        for followers, days in ((900, 60), (1000, 40), (1100, 10)):
            session.add(snapshot(account.id, followers, now - timedelta(days=days)))
        await session.flush()
        growth = (await growth_by_account(session, {account.id: 1210}, now=now))[account.id]
    assert round(growth[30].rate, 3) == 0.21 and round(growth[7].rate, 3) == 0.1
    assert growth[7].reason() == "followers +10% in 7 days"
    assert growth[30].reason() == "followers +21% in 30 days"


def test_a_short_history_reports_growth_over_the_days_it_covers_and_none_when_too_short() -> None:
    now = utcnow()
    history = [(now - timedelta(days=18), 2000)]
    partial = follower_growth(history, 2200, now, 30)
    assert partial is not None and partial.reason() == "followers +10% in 18 days"
    assert follower_growth([(now - timedelta(days=2), 2000)], 2200, now, 30) is None
    assert follower_growth(history, None, now, 7) is None


def test_topical_relevance_is_the_share_of_posts_using_the_watch_terms_ignoring_case_and_accents() -> None:
    watch = Watch(name="w", keywords=["CRM", "pipeline"], competitors=[{"name": "Salesforce", "aliases": ["SFDC"]}])
    terms = watch_terms([watch])
    assert terms == ["crm", "pipeline", "salesforce", "sfdc"]
    share, used = topical_relevance(
        ["Our CRM migration off Salesforce", "crm tips", "Café photos", "pipelines are not a term match"], terms
    )
    assert share == 0.5 and used == ("crm", "salesforce")


def test_reasons_name_relevance_and_growth_and_a_sudden_jump_is_suspicious() -> None:
    now = utcnow()
    steady = follower_growth([(now - timedelta(days=31), 40_000)], 44_000, now, 30)
    assert steady is not None
    scored = score_account(
        AccountSignals(
            followers=44_000,
            following=800,
            posts_per_day=2,
            relevance=0.6,
            relevant_terms=("crm", "salesforce"),
            growth={30: steady},
        )
    )
    assert "topical relevance: 60% of recent posts use the watch's terms (crm, salesforce)" in scored.reasons
    assert "followers +10% in 30 days" in scored.reasons
    flat = score_account(AccountSignals(followers=44_000, following=800, posts_per_day=2, relevance=0.0))
    assert scored.score > flat.score

    jump = follower_growth([(now - timedelta(days=8), 10_000)], 30_000, now, 7)
    assert jump is not None
    bought, why = authenticity(AccountSignals(followers=30_000, following=800, growth={7: jump}))
    clean, _ = authenticity(AccountSignals(followers=30_000, following=800))
    assert "followers jumped 200% within a week" in why and bought > clean


async def test_the_influencer_job_is_scheduled_and_running_it_twice_gives_the_same_scores(
    engine: AsyncEngine, settings: Settings
) -> None:
    assert "cron:score_influencers" in {job.name for job in worker_options(settings)["cron_jobs"]}
    now = utcnow()
    sessionmaker = make_sessionmaker(engine)
    async with session_scope(sessionmaker) as session:
        watch = Watch(name="crm watch", keywords=["crm"], competitors=[{"name": "HubSpot"}])
        session.add(watch)
        account = await new_account(session, followers=50_000)
        assert account.id is not None
        session.add(snapshot(account.id, 40_000, now - timedelta(days=35)))
        texts = ["Switched our CRM from HubSpot", "crm automation thread", "weekend hike", "coffee"]
        for i, text in enumerate(texts):
            mention = Mention(platform="x", external_id=f"m{i}", account_id=account.id, text=text, likes=500)
            session.add(mention)
            await session.flush()
            if "crm" in text.lower():
                assert mention.id is not None and watch.id is not None
                session.add(MentionMatch(mention_id=mention.id, watch_id=watch.id, matched_terms=["crm"]))
        account_id = account.id

    ctx = {"sessionmaker": sessionmaker}
    assert await score_influencers(ctx) == 1
    async with session_scope(sessionmaker) as session:
        first = await session.get(PlatformAccount, account_id)
        assert first is not None
        once = (first.influencer_score, first.influencer_tier, first.influencer_reasons, first.authenticity_flag)
    assert await score_influencers(ctx) == 1
    async with session_scope(sessionmaker) as session:
        second = await session.get(PlatformAccount, account_id)
        assert second is not None
        twice = (second.influencer_score, second.influencer_tier, second.influencer_reasons, second.authenticity_flag)
    assert once == twice
    reasons = once[2]
    assert "topical relevance: 50% of recent posts use the watch's terms (crm, hubspot)" in reasons
    assert "followers +25% in 30 days" in reasons
