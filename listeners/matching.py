"""Which of a watch's terms and competitors a text mentions (case- and accent-insensitive)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any


def fold(text: str) -> str:
    """Lower-case, strip accents: 'Café' and 'cafe' match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True, slots=True)
class Match:
    terms: tuple[str, ...]
    competitors: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.terms or self.competitors)


def _contains(folded_text: str, term: str) -> bool:
    needle = fold(term).strip()
    if not needle:
        return False
    return re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", folded_text) is not None


def match_watch(text: str, keywords: list[str], competitors: list[dict[str, Any]], excluded_terms: list[str]) -> Match:
    folded = fold(text)
    if any(_contains(folded, term) for term in excluded_terms):
        return Match((), ())
    terms = tuple(k for k in keywords if _contains(folded, k))
    hit_competitors = tuple(
        c["name"]
        for c in competitors
        if any(_contains(folded, alias) for alias in [c.get("name", ""), *c.get("aliases", []), *c.get("handles", [])])
    )
    return Match(terms, hit_competitors)
