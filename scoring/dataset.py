"""Labelled training data: CSV/JSONL files with a text and a 0/1 label, and CRM outcomes turned into labels."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.errors import InvalidInput
from crm.models import (
    Direction,
    Lead,
    Mention,
    MentionMatch,
    Message,
    MessageStatus,
    PlatformAccount,
    StageChange,
    utcnow,
)
from scoring.features import AUTHOR_COLUMNS, TEXT

_TRUE = {"1", "1.0", "true", "yes", "y", "positive", "warm"}
_FALSE = {"0", "0.0", "false", "no", "n", "negative", "cold"}


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".json":
            return pd.read_json(path, dtype=False)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InvalidInput(
            f"{path}: cannot read as {suffix.lstrip('.') or 'csv'}: {str(exc).splitlines()[0]}"
        ) from None


def _label(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    return None


def load_labelled(
    paths: Sequence[Path],
    *,
    text_column: str = "text",
    label_column: str = "label",
    require_label: bool = True,
    positive: str | None = None,
) -> tuple[pd.DataFrame, list[int]]:
    """Read, validate and concatenate labelled files; rows with an unreadable label are an error naming the file."""
    frames: list[pd.DataFrame] = []
    labels: list[int] = []
    for path in paths:
        df = _read(Path(path))
        if text_column not in df.columns:
            raise InvalidInput(f"{path}: no text column {text_column!r} (columns: {', '.join(map(str, df.columns))})")
        if label_column not in df.columns:
            raise InvalidInput(f"{path}: no label column {label_column!r} (columns: {', '.join(map(str, df.columns))})")
        if positive is not None:
            # Multi-class files: one value is warm, every other value is not.
            parsed: list[int | None] = [
                1 if str(v).strip().lower() == positive.lower() else 0 for v in df[label_column]
            ]
        else:
            parsed = [_label(v) for v in df[label_column]]
        bad = [i for i, v in enumerate(parsed) if v is None]
        if bad and require_label:
            raise InvalidInput(
                f"{path}: label column {label_column!r} must be 0/1 (row {bad[0] + 2} has {df[label_column].iloc[bad[0]]!r})"
            )
        out = pd.DataFrame({TEXT: df[text_column].fillna("").astype(str)})
        for column in AUTHOR_COLUMNS:
            out[column] = pd.to_numeric(df[column], errors="coerce") if column in df.columns else None
        frames.append(out)
        labels.extend(int(v or 0) for v in parsed)
    if not frames or not labels:
        raise InvalidInput("no labelled rows")
    return pd.concat(frames, ignore_index=True), labels


def data_hash(df: pd.DataFrame, labels: Sequence[int]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(df[TEXT].tolist(), labels, strict=True):
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\x1f1" if label else b"\x1f0")
    return digest.hexdigest()


# ---------------------------------------------------------------------------- CRM outcomes -> labels

POSITIVE_STAGES = frozenset({"replied", "qualified", "meeting", "won"})
NEGATIVE_STAGES = frozenset({"lost", "disqualified", "dismissed"})


@dataclass(frozen=True)
class OutcomeLabel:
    lead_id: int
    mention_id: int
    label: int
    why: str


async def outcome_labels(
    session: AsyncSession, *, silent_after: timedelta = timedelta(days=14), min_followups: int = 2
) -> list[OutcomeLabel]:
    """Leads whose outcome is known: reached replied/qualified/won (1); lost, dismissed by a rep, or no reply after
    `min_followups` sent messages and `silent_after` of silence (0). Leads still in play give no label."""
    leads = (await session.exec(select(Lead).where(col(Lead.deleted_at).is_(None)))).all()
    reached: dict[int, set[str]] = {}
    for change in (await session.exec(select(StageChange))).all():
        reached.setdefault(change.lead_id, set()).add(change.to_stage)
    messages = (await session.exec(select(Message))).all()
    sent: dict[int, list[datetime]] = {}
    inbound: set[int] = set()
    for message in messages:
        if message.direction == Direction.INBOUND.value:
            inbound.add(message.lead_id)
        elif message.status == MessageStatus.SENT.value:
            sent.setdefault(message.lead_id, []).append(message.sent_at or message.created_at)
    now = utcnow()
    out: list[OutcomeLabel] = []
    for lead in leads:
        assert lead.id is not None
        mention_id = lead.first_mention_id
        if mention_id is None:
            continue
        stages = reached.get(lead.id, set()) | {lead.stage}
        if stages & POSITIVE_STAGES or lead.id in inbound:
            out.append(OutcomeLabel(lead.id, mention_id, 1, "replied or progressed"))
        elif stages & NEGATIVE_STAGES:
            out.append(OutcomeLabel(lead.id, mention_id, 0, "lost or dismissed"))
        elif len(sent.get(lead.id, [])) >= min_followups and now - max(sent[lead.id]) >= silent_after:
            out.append(OutcomeLabel(lead.id, mention_id, 0, "no reply after follow-ups"))
    return out


async def outcome_frame(session: AsyncSession, labels: Sequence[OutcomeLabel]) -> tuple[pd.DataFrame, list[int]]:
    """The labelled leads' first mentions as training rows, with the same author fields scoring uses."""
    rows: list[dict[str, Any]] = []
    ys: list[int] = []
    by_mention = {label.mention_id: label for label in labels}
    if not by_mention:
        return pd.DataFrame(columns=[TEXT, *AUTHOR_COLUMNS]), []
    mentions = (await session.exec(select(Mention).where(col(Mention.id).in_(list(by_mention))))).all()
    matched = {
        m.mention_id
        for m in (
            await session.exec(select(MentionMatch).where(col(MentionMatch.mention_id).in_(list(by_mention))))
        ).all()
        if m.matched_competitors
    }
    for mention in mentions:
        assert mention.id is not None
        account = await session.get(PlatformAccount, mention.account_id) if mention.account_id else None
        rows.append(mention_record(mention, account, competitor=mention.id in matched))
        ys.append(by_mention[mention.id].label)
    return pd.DataFrame(rows), ys


def mention_record(
    mention: Mention,
    account: PlatformAccount | None,
    *,
    competitor: bool,
    competitors: Sequence[str] = (),
    prior: int = 0,
) -> dict[str, Any]:
    """A stored mention -> the plain record the warm-lead model reads."""
    posted = mention.posted_at or mention.fetched_at
    age = max(0.0, (utcnow() - posted).total_seconds() / 3600) if posted else 0.0
    return {
        TEXT: mention.text,
        "competitor_mentioned": 1 if competitor else 0,
        "followers": account.followers if account else None,
        "following": account.following if account else None,
        "likes": mention.likes,
        "reposts": mention.reposts,
        "replies": mention.replies,
        "age_hours": age,
        "dm_open": 1 if account and account.dm_open else 0,
        "prior_interactions": prior,
        "competitors": list(competitors),
    }


def write_jsonl(path: Path, df: pd.DataFrame, labels: Sequence[int]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for record, label in zip(df.to_dict(orient="records"), labels, strict=True):
            fh.write(json.dumps({**record, "label": label}, default=str) + "\n")
