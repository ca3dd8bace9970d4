"""Influencer scoring per account: reach, engagement rate, posting frequency, topical relevance (share of recent posts
using the watch's terms) and follower growth over 7/30 days (from account snapshots), with a tier, an authenticity
check (bot-likeness, fake-follower patterns, engagement and growth anomalies) and the reasons.

Transparent weighted signals rather than a fitted model: no public data labels "good influencer", and the
authenticity part is measured against the labelled bot/fake sets (`crm scoring authenticity`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Mention, MentionMatch, PlatformAccount, Watch, utcnow
from scoring.growth import Growth, growth_by_account

VERSION = "influencer-rules-2"
RECENT_DAYS = 90  # relevance reads the account's posts from this many days
RECENT_POSTS = 100  # ... at most this many, newest first
BATCH = 200
SUSPICION_FLAG = 0.5  # suspicion at or above this sets authenticity_flag = False (not authentic)

TIERS: tuple[tuple[int, str], ...] = ((10_000, "nano"), (100_000, "micro"), (500_000, "mid"), (1_000_000, "macro"))


def tier(followers: int | None) -> str | None:
    if followers is None:
        return None
    for limit, name in TIERS:
        if followers < limit:
            return name
    return "mega"


@dataclass
class AccountSignals:
    """What we know about an account; every field optional, a missing one adds no evidence either way."""

    followers: float | None = None
    following: float | None = None
    posts_count: float | None = None
    account_age_days: float | None = None
    posts_per_day: float | None = None
    engagement_per_post: float | None = None  # likes + reposts + replies per post
    url_share: float | None = None  # share of posts with a link
    bio_length: float | None = None
    has_profile_pic: bool | None = None
    username: str | None = None
    verified: bool = False
    relevance: float | None = None  # share of recent posts using the watch's terms, 0..1
    relevant_terms: tuple[str, ...] = ()  # the watch terms those posts use most
    growth: dict[int, Growth] = field(default_factory=dict)  # window in days -> follower growth
    sources_count: float | None = None  # distinct posting clients (automation uses several)
    likes_given: float | None = None  # posts this account has liked (X favourites_count)


@dataclass
class InfluencerScore:
    score: float
    tier: str | None
    authentic: bool
    suspicion: float
    reasons: list[str] = field(default_factory=list)
    version: str = VERSION


def authenticity(s: AccountSignals) -> tuple[float, list[str]]:
    """Suspicion in [0, 1] (higher = more bot/fake-like) and the reasons that raised it."""
    points = 0.0
    reasons: list[str] = []
    if s.verified:
        return 0.0, []
    if s.followers is not None and s.following is not None:
        ratio = (s.followers + 1) / (s.following + 1)
        if ratio < 0.1 and s.following > 300:
            points += 2.5
            reasons.append(f"follows {int(s.following):,} but has {int(s.followers):,} followers")
        elif ratio < 0.5:
            points += 1.0
        elif ratio > 3:
            points -= 0.5
    if s.posts_count is not None:
        if s.posts_count == 0:
            points += 1.5
            reasons.append("has never posted")
        elif s.posts_count < 5:
            points += 0.5
    if s.posts_per_day is not None:
        if s.posts_per_day > 50:
            points += 2.0
            reasons.append(f"posts {s.posts_per_day:.0f} times a day")
        elif s.posts_per_day > 20:
            points += 1.0
            reasons.append(f"posts {s.posts_per_day:.0f} times a day")
    if s.likes_given is not None and s.likes_given < 100 and (s.posts_count or 0) >= 50:
        points += 1.0
        reasons.append("posts a lot but almost never likes anything")
    if s.url_share is not None and s.url_share > 0.6:
        points += 1.0
        reasons.append("mostly posts links")
    if s.sources_count is not None and s.sources_count >= 3:
        points += 0.7
        reasons.append("posts through several automation clients")
    if s.bio_length is not None and s.bio_length == 0:
        points += 0.8
        reasons.append("empty bio")
    if s.has_profile_pic is False:
        points += 1.0
        reasons.append("no profile picture")
    if s.username:
        digits = sum(ch.isdigit() for ch in s.username)
        if digits >= 4 or (len(s.username) and digits / len(s.username) > 0.3):
            points += 0.8
            reasons.append("machine-like handle")
    week = s.growth.get(7)
    if week is not None and week.rate > 0.5 and (s.followers or 0) >= 5000:
        points += 1.5
        reasons.append(f"followers jumped {week.rate:.0%} within a week")
    if s.account_age_days is not None and s.account_age_days < 30 and (s.followers or 0) > 5000:
        points += 1.0
        reasons.append("new account with a large audience")
    if s.followers and s.followers >= 5000 and s.engagement_per_post is not None:
        rate = s.engagement_per_post / s.followers
        if rate < 0.0002:
            points += 1.0
            reasons.append("engagement far below its audience size")
        elif rate > 0.5:
            points += 1.0
            reasons.append("engagement implausibly high for its audience")
    suspicion = 1 / (1 + math.exp(-(points - 2.0)))
    return round(suspicion, 4), reasons


def score_account(s: AccountSignals) -> InfluencerScore:
    suspicion, bad = authenticity(s)
    authentic = suspicion < SUSPICION_FLAG
    reasons: list[str] = []
    followers = s.followers or 0
    reach = min(40.0, 40 * math.log10(1 + followers) / 7)
    if followers >= 1000:
        reasons.append(f"{_short(followers)} followers")
    engagement = 0.0
    if s.engagement_per_post is not None and followers > 0:
        rate = s.engagement_per_post / followers
        engagement = min(25.0, 25 * rate / 0.03)  # ~3% engagement earns the full share
        if rate >= 0.01:
            reasons.append(f"engagement rate {rate:.1%}")
    activity = 0.0
    if s.posts_per_day is not None:
        activity = 10.0 if 0.2 <= s.posts_per_day <= 15 else 4.0 if s.posts_per_day > 0 else 0.0
        if activity == 10.0:
            reasons.append("posts regularly")
    relevance = 0.0
    if s.relevance is not None:
        relevance = 20 * max(0.0, min(1.0, s.relevance))
        terms = f" ({', '.join(s.relevant_terms[:3])})" if s.relevant_terms else ""
        reasons.append(f"topical relevance: {s.relevance:.0%} of recent posts use the watch's terms{terms}")
    growth = 0.0
    if s.growth:
        # The longer window is steadier; a new account falls back to its week.
        trend = s.growth.get(30) or s.growth[min(s.growth)]
        growth = min(5.0, 50 * max(0.0, trend.rate))
        reasons.extend(g.reason() for _, g in sorted(s.growth.items()))
    total = reach + engagement + activity + relevance + growth
    if s.verified:
        reasons.append("verified")
    if not authentic:
        total *= 0.4  # a likely bot or bought audience is a poor partner whatever its reach
        reasons.append("authenticity doubtful: " + "; ".join(bad) if bad else "authenticity doubtful")
    return InfluencerScore(
        round(min(100.0, total), 1),
        tier(int(followers) if s.followers is not None else None),
        authentic,
        suspicion,
        reasons,
    )


def _short(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 1000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return str(int(n))


_URL = re.compile(r"https?://", re.I)


def signals_for(
    account: PlatformAccount,
    mentions: Sequence[Mention],
    terms: Sequence[str] = (),
    growth: dict[int, Growth] | None = None,
    now: datetime | None = None,
) -> AccountSignals:
    """Build signals from a stored account, its recent mentions, the watch terms it is judged against and its
    follower growth."""
    now = now or utcnow()
    age = (now - account.account_created_at).total_seconds() / 86400 if account.account_created_at else None
    profile: dict[str, Any] = account.profile or {}
    posts_per_day = None
    if account.posts_count is not None and age and age > 0:
        posts_per_day = account.posts_count / age
    engagement = None
    url_share = None
    if mentions:
        engagement = sum(m.likes + m.reposts + m.replies + m.quotes for m in mentions) / len(mentions)
        url_share = sum(1 for m in mentions if _URL.search(m.text)) / len(mentions)
    share, used = topical_relevance([m.text for m in mentions], terms) if terms and mentions else (None, ())
    return AccountSignals(
        followers=account.followers,
        following=account.following,
        posts_count=account.posts_count,
        account_age_days=age,
        posts_per_day=posts_per_day,
        engagement_per_post=engagement,
        url_share=url_share if mentions and len(mentions) >= 3 else None,
        bio_length=len(account.bio) if account.bio or profile else None,
        has_profile_pic=profile.get("has_profile_pic") if isinstance(profile.get("has_profile_pic"), bool) else None,
        username=account.handle,
        verified=account.verified,
        relevance=share,
        relevant_terms=used,
        growth=growth or {},
    )


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def watch_terms(watches: Iterable[Watch]) -> list[str]:
    """Keywords and competitor names, aliases and handles of the watches, folded and de-duplicated."""
    terms: list[str] = []
    for watch in watches:
        terms.extend(str(k) for k in watch.keywords)
        for competitor in watch.competitors:
            terms.append(str(competitor.get("name", "")))
            terms.extend(str(a) for a in [*competitor.get("aliases", []), *competitor.get("handles", [])])
    return list(dict.fromkeys(f for t in terms if (f := _fold(t).strip())))


def topical_relevance(texts: Sequence[str], terms: Sequence[str]) -> tuple[float, tuple[str, ...]]:
    """Share of the texts that use at least one term (whole words, case and accents ignored), and the terms used
    most, most frequent first."""
    if not texts or not terms:
        return 0.0, ()
    patterns = [(t, re.compile(rf"(?<!\w){re.escape(t)}(?!\w)")) for t in terms]
    used: Counter[str] = Counter()
    hits = 0
    for text in texts:
        folded = _fold(text)
        found = [t for t, pattern in patterns if pattern.search(folded)]
        hits += bool(found)
        used.update(found)
    return hits / len(texts), tuple(t for t, _ in used.most_common())


async def score_accounts(session: AsyncSession, account_ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Write influencer score, tier, reasons and authenticity flag onto the accounts; returns how many.

    Recomputes from stored facts only, so running it twice leaves the same values."""
    now = now or utcnow()
    done = 0
    ids = list(dict.fromkeys(account_ids))
    active_watches: list[Watch] | None = None
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        accounts = (await session.exec(select(PlatformAccount).where(col(PlatformAccount.id).in_(chunk)))).all()
        if not accounts:
            continue
        since = now - timedelta(days=RECENT_DAYS)
        seen = func.coalesce(col(Mention.posted_at), col(Mention.fetched_at))
        mentions = (
            await session.exec(
                select(Mention)
                .where(col(Mention.account_id).in_(chunk), seen >= since)
                .order_by(col(Mention.account_id), seen.desc(), col(Mention.id).desc())
            )
        ).all()
        by_account: dict[int, list[Mention]] = {}
        for mention in mentions:
            posts = by_account.setdefault(mention.account_id or 0, [])
            if len(posts) < RECENT_POSTS:
                posts.append(mention)
        mention_ids = [m.id for posts in by_account.values() for m in posts if m.id is not None]
        watch_of: dict[int, set[int]] = {}
        if mention_ids:
            for mention_id, watch_id in (
                await session.exec(
                    select(MentionMatch.mention_id, MentionMatch.watch_id).where(
                        col(MentionMatch.mention_id).in_(mention_ids)
                    )
                )
            ).all():
                watch_of.setdefault(mention_id, set()).add(watch_id)
        wanted = {w for ws in watch_of.values() for w in ws}
        watches = {w.id: w for w in (await session.exec(select(Watch).where(col(Watch.id).in_(wanted)))).all() if w.id}
        growth = await growth_by_account(session, {a.id: a.followers for a in accounts if a.id is not None}, now=now)
        for account in accounts:
            assert account.id is not None
            posts = by_account.get(account.id, [])
            matched = {w for m in posts for w in watch_of.get(m.id or 0, set())}
            if matched:
                judged = [watches[w] for w in sorted(matched) if w in watches]
            else:
                # An account we only know from elsewhere is judged against every live watch.
                if active_watches is None:
                    query = select(Watch).where(col(Watch.active).is_(True), col(Watch.deleted_at).is_(None))
                    active_watches = list((await session.exec(query)).all())
                judged = active_watches
            signals = signals_for(account, posts, watch_terms(judged), growth.get(account.id), now)
            result = score_account(signals)
            account.influencer_score = result.score
            account.influencer_tier = result.tier
            account.influencer_reasons = result.reasons
            account.authenticity_flag = result.authentic
            account.updated_at = now
            session.add(account)
            done += 1
        await session.flush()
    return done


async def recently_active_accounts(session: AsyncSession, *, days: int = RECENT_DAYS) -> list[int]:
    """Accounts with a mention seen in the last `days`: the ones the nightly influencer job refreshes."""
    since = utcnow() - timedelta(days=days)
    query = (
        select(Mention.account_id)
        .where(
            col(Mention.account_id).is_not(None),
            or_(col(Mention.posted_at) >= since, col(Mention.fetched_at) >= since),
        )
        .distinct()
    )
    return sorted(int(i) for i in (await session.exec(query)).all() if i is not None)


# ---------------------------------------------------------------------------- labelled account sets


def gilani_signals(row: dict[str, Any]) -> AccountSignals:
    """A row of twitter_accounts_gilani2017/accounts.csv -> signals (band gives the order of followers)."""
    band = {"1k": 1_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}.get(str(row.get("popularity_band")), 1000)
    ratio = float(row.get("follower_friend_ratio") or 0)
    tweeted = (
        float(row.get("user_tweeted") or 0)
        + float(row.get("user_retweeted") or 0)
        + float(row.get("user_replied") or 0)
    )
    return AccountSignals(
        followers=band,
        following=band / ratio if ratio > 0 else None,
        posts_per_day=float(row.get("tweet_frequency") or 0),
        posts_count=tweeted,
        likes_given=float(row.get("user_favourited") or 0),
        url_share=float(row.get("urls_count") or 0) / tweeted if tweeted else None,
        sources_count=float(row.get("sources_count") or 0),
        account_age_days=float(row.get("age_of_account_in_days") or 0) or None,
        username=str(row.get("screen_name") or ""),
    )


def instafake_signals(row: dict[str, Any]) -> AccountSignals:
    """A row of instagram_fake_accounts/instafake_fake_v1.csv -> signals (no username text: digit count only)."""
    digits = int(row.get("usernameDigitCount") or 0)
    length = int(row.get("usernameLength") or 0)
    return AccountSignals(
        followers=float(row["userFollowerCount"]),
        following=float(row["userFollowingCount"]),
        posts_count=float(row["userMediaCount"]),
        bio_length=float(row["userBiographyLength"]),
        has_profile_pic=bool(int(row["userHasProfilPic"])),
        username="1" * digits + "a" * max(0, length - digits),
    )
