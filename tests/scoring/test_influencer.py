from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db import make_sessionmaker, session_scope
from crm.models import Mention, PlatformAccount
from scoring.influencer import AccountSignals, score_account, score_accounts, tier
from scoring.influencer_eval import evaluate_authenticity
from tests.conftest import SHARED_DATA


def test_tiers_follow_follower_counts() -> None:
    assert [tier(n) for n in (900, 10_000, 99_999, 400_000, 999_999, 2_000_000)] == [
        "nano",
        "micro",
        "micro",
        "mid",
        "macro",
        "mega",
    ]


def test_a_real_engaged_account_outscores_a_bought_audience_and_says_why() -> None:
    real = score_account(
        AccountSignals(
            followers=45_000,
            following=800,
            posts_count=3000,
            posts_per_day=2,
            engagement_per_post=900,
            relevance=0.6,
            bio_length=80,
            username="ana_codes",
        )
    )
    fake = score_account(
        AccountSignals(
            followers=45_000,
            following=7_000,
            posts_count=3,
            engagement_per_post=2,
            bio_length=0,
            has_profile_pic=False,
            username="user84920311",
        )
    )
    assert real.authentic and real.tier == "micro" and real.score > 60
    assert "engagement rate 2.0%" in real.reasons
    assert not fake.authentic and fake.score < real.score / 2
    assert any("authenticity doubtful" in r for r in fake.reasons)


def test_authenticity_separates_labelled_bots_and_fakes() -> None:
    result = evaluate_authenticity(SHARED_DATA)
    assert result["instafake_roc_auc"] > 0.9
    assert result["gilani_roc_auc"] > 0.7


async def test_scoring_accounts_writes_score_tier_flag_and_reasons(engine: AsyncEngine) -> None:
    async with session_scope(make_sessionmaker(engine)) as session:
        account = PlatformAccount(
            platform="x", handle="ana_codes", followers=120_000, following=900, posts_count=5000, bio="dev"
        )
        session.add(account)
        await session.flush()
        session.add(
            Mention(platform="x", external_id="1", account_id=account.id, text="crm tips", likes=900, reposts=100)
        )
        await session.flush()
        assert await score_accounts(session, [account.id or 0]) == 1
        await session.refresh(account)
    assert account.influencer_tier == "mid" and account.authenticity_flag is True
    assert account.influencer_score is not None and account.influencer_reasons
