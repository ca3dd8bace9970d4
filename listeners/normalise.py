"""Text clean-up and language for mentions (their sentiment is `scoring.sentiment`).

The bulk store uses only the cheap parts (clean-up, content hash, a stopword vote for the language); lingua and
VADER cost 100-1500 us per text, so they run where they are needed: lingua when a language-restricted watch
meets a text the vote could not place, and both in the `analyse_mentions` job after the batch commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from listeners.query import tokenize

# Short function words that are frequent in one of the supported languages and rare as words in the others.
_STOPWORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "the",
        "and",
        "is",
        "are",
        "to",
        "of",
        "for",
        "with",
        "that",
        "this",
        "it",
        "you",
        "what",
        "have",
        "was",
        "be",
        "my",
        "any",
        "anyone",
        "can",
        "but",
        "not",
        "our",
        "we",
        "they",
        "just",
        "about",
        "isn",
        "there",
        "than",
        "does",
        "if",
        "on",
        "or",
        "who",
        "how",
        "from",
        "your",
        "at",
        "an",
        "so",
        "has",
        "me",
        "when",
        "will",
        "would",
        "should",
        "their",
        "been",
        "don",
        "doesn",
        "i'm",
        "it's",
        "which",
    ),
    "es": (
        "el",
        "los",
        "las",
        "una",
        "es",
        "por",
        "para",
        "con",
        "que",
        "pero",
        "muy",
        "alguien",
        "nuestro",
        "cuando",
        "como",
        "tengo",
        "estoy",
        "del",
        "mejor",
    ),
    "de": (
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "ein",
        "eine",
        "mit",
        "fur",
        "ich",
        "wir",
        "auch",
        "aber",
        "sehr",
        "kann",
        "kennt",
        "jemand",
        "unser",
        "zu",
    ),
    "fr": (
        "le",
        "les",
        "et",
        "est",
        "une",
        "pour",
        "avec",
        "pas",
        "je",
        "nous",
        "vous",
        "mais",
        "tres",
        "sur",
        "quelqu",
        "notre",
        "du",
        "au",
        "ce",
    ),
    "pt": (
        "os",
        "um",
        "uma",
        "com",
        "nao",
        "muito",
        "mas",
        "para",
        "voce",
        "nos",
        "alguem",
        "nosso",
        "sao",
        "estou",
        "tenho",
        "isso",
        "ao",
    ),
    "it": (
        "il",
        "gli",
        "della",
        "che",
        "sono",
        "non",
        "per",
        "con",
        "una",
        "molto",
        "ma",
        "qualcuno",
        "nostro",
        "questo",
        "anche",
        "ho",
        "sto",
    ),
}
_VOTES: dict[str, list[str]] = {}
for _code, _words in _STOPWORDS.items():
    for _word in _words:
        _VOTES.setdefault(_word, []).append(_code)
SUPPORTED_LANGUAGES = tuple(_STOPWORDS)

_URL = re.compile(r"https?://\S+")
MIN_LINK_TOKENS = 4


def clean_text(text: str) -> str:
    """Text as stored: NUL bytes (which PostgreSQL refuses) dropped, outer whitespace trimmed."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip()


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def hash_tokens(text: str, tokens: Sequence[str]) -> list[str]:
    """The words that identify a text across reposts: links and a leading `RT @handle` do not count."""
    if "http" in text:
        tokens = tokenize(_URL.sub(" ", text))
    if len(tokens) > 2 and tokens[0] == "rt" and tokens[1][:1] == "@":
        tokens = tokens[2:]
    return list(tokens)


def content_hash_of(tokens: Sequence[str]) -> str:
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=16).hexdigest()


def content_hash(text: str) -> str:
    """Same words, same hash: reposts and cross-posts of one text link to the first copy."""
    return content_hash_of(hash_tokens(text, tokenize(text)))


def guess_language(tokens: Sequence[str]) -> str | None:
    """A stopword vote: a language when at least two of its function words appear and it clearly leads."""
    counts: dict[str, int] = {}
    votes = _VOTES
    for token in tokens:
        codes = votes.get(token)
        if codes:
            for code in codes:
                counts[code] = counts.get(code, 0) + 1
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    best, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    return best if top >= 2 and top >= 2 * runner_up else None


@cache
def _detector() -> Any:
    # Built once per process and restricted to the supported languages: lingua is slow to build and to run.
    from lingua import Language, LanguageDetectorBuilder  # here with the detector: most processes never need lingua

    languages = [
        getattr(Language, name) for name in ("ENGLISH", "SPANISH", "GERMAN", "FRENCH", "PORTUGUESE", "ITALIAN")
    ]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, by the stopword vote or else lingua; None when unsure."""
    guessed = guess_language(tokenize(text))
    if guessed is not None:
        return guessed
    if len(text.strip()) < 12:
        return None
    found = _detector().detect_language_of(text)
    return str(found.iso_code_639_1.name).lower() if found is not None else None
