"""Shared pieces for scoring tests: one small model trained on a slice of real labelled posts (the MIT-licensed
purchase-intent sample in tests/fixtures/purchase_intent), and CRM rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.leads.opening import open_lead
from crm.models import Contact, Lead, Mention, MentionMatch, Pipeline, PlatformAccount, Watch
from scoring import artifacts
from scoring.lifecycle import train_and_save
from tests.conftest import FIXTURES

LABELLED = FIXTURES / "purchase_intent" / "sample.csv"
SAMPLE_ROWS = 1000


def labelled(n: int = 700, seed: int = 3) -> pd.DataFrame:
    """n rows of the sample, shuffled by seed; `warm` is 1 for purchase intent ("yes"), 0 otherwise."""
    df = pd.read_csv(LABELLED)
    df["warm"] = (df["label"] == "yes").astype(int)
    return df.sample(n=n, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    df = labelled()
    out = tmp_path_factory.mktemp("model") / "wl-test-1"
    train_and_save(df[["text"]], df["warm"].tolist(), out, version="wl-test-1", infer_competitors=True)
    return out


@pytest.fixture
def model_copy(trained_dir: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(trained_dir, target)
    return target


async def make_lead(
    session: AsyncSession,
    text: str,
    *,
    handle: str = "maria_ops",
    followers: int = 2300,
    competitors: list[str] | None = None,
) -> Lead:
    pipeline = (await session.exec(select(Pipeline).where(Pipeline.is_default))).one()
    watch = (await session.exec(select(Watch).where(Watch.name == "w"))).first()
    if watch is None:
        watch = Watch(name="w", keywords=["crm"], competitors=[{"name": "Salesforce"}])
        session.add(watch)
        await session.flush()
    contact = Contact(display_name=handle)
    session.add(contact)
    await session.flush()
    account = PlatformAccount(platform="file", handle=handle, contact_id=contact.id, followers=followers, dm_open=True)
    session.add(account)
    await session.flush()
    mention = Mention(
        platform="file", external_id=f"m-{handle}", account_id=account.id, contact_id=contact.id, text=text
    )
    session.add(mention)
    await session.flush()
    assert mention.id is not None and watch.id is not None and contact.id is not None and pipeline.id is not None
    session.add(MentionMatch(mention_id=mention.id, watch_id=watch.id, matched_competitors=competitors or []))
    return await open_lead(
        session, contact.id, watch.id, pipeline_id=pipeline.id, first_mention_id=mention.id, platform="file"
    )


def load(path: Path) -> Any:
    return artifacts.load(path)
