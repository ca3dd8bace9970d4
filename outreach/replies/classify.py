"""Sorting an inbound reply: an opt-out closes the door on every channel; the rest tells the rep what to do next.

Rules rather than a model, on purpose: an opt-out must be caught every time and the reason shown to the rep, and
a missed "stop" costs far more than a reply a rep re-reads.
"""

from __future__ import annotations

import enum
import re
import unicodedata


class ReplyKind(enum.StrEnum):
    OPT_OUT = "opt_out"
    NOT_INTERESTED = "not_interested"
    INTERESTED = "interested"
    QUESTION = "question"
    NEUTRAL = "neutral"


def _pattern(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b")


# Checked in this order: "stop messaging me, not interested" is an opt-out first.
RULES: tuple[tuple[ReplyKind, re.Pattern[str]], ...] = (
    (
        ReplyKind.OPT_OUT,
        _pattern(
            r"stop",
            r"unsubscribe",
            r"opt(?:ing)? ?out",
            r"remove me",
            r"leave me alone",
            r"(?:do not|don'?t|never) (?:dm|message|contact|msg|text|email|write to) me",
            r"(?:stop|quit) (?:dm'?ing|messaging|contacting|spamming)",
            r"spam(?:ming)?",
            r"reported",
            r"block(?:ed|ing)? you",
        ),
    ),
    (
        ReplyKind.NOT_INTERESTED,
        _pattern(
            r"not interested",
            r"no thanks?",
            r"no,? thank you",
            r"not (?:right )?now",
            r"not for us",
            r"we(?:'re| are) (?:good|fine|happy|all set)",
            r"already (?:use|using|have|signed|chose|went with)",
            r"pass",
        ),
    ),
    (
        ReplyKind.INTERESTED,
        _pattern(
            r"interested",
            r"tell me more",
            r"sounds? (?:good|great|interesting)",
            r"let'?s (?:talk|chat|do it|set up|book)",
            r"(?:book|schedule|set up) (?:a )?(?:call|demo|meeting|time)",
            r"send (?:me |us )?(?:the |some |your )?(?:details|info|more|link|pricing|deck)",
            r"happy to (?:chat|talk|try)",
            r"would love",
            r"yes please",
            r"demo",
            r"trial",
        ),
    ),
)
QUESTION = re.compile(r"\?|^(?:how|what|which|why|when|where|who|can|could|do|does|is|are|will|would)\b")


def normalise(text: str) -> str:
    flat = unicodedata.normalize("NFKD", text.casefold())
    flat = "".join(ch for ch in flat if not unicodedata.combining(ch))
    return " ".join(flat.replace("\u2019", "'").split())


def classify_reply(text: str) -> ReplyKind:
    flat = normalise(text)
    for kind, pattern in RULES:
        if pattern.search(flat):
            return kind
    return ReplyKind.QUESTION if QUESTION.search(flat) else ReplyKind.NEUTRAL
