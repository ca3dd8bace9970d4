"""Whether a post matches a watch, and by which terms and competitors: one compiled matcher per watch.

A post is folded and tokenised once; every term of the watch (keywords, query terms, competitor names, aliases
and handles, excluded terms) is found in one pass through an index keyed by a term's first token, so the cost
per post grows with its length, not with the number of terms. A plain word also matches its #hashtag;
@handles and $cashtags match only themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from listeners.query import Hits, Near, Node, Not, Or, Term, compile_query, fold, make_term, parse, terms_of, tokenize

__all__ = ["NO_MATCH", "Match", "WatchMatcher", "fold", "match_watch", "tokenize"]


@dataclass(frozen=True, slots=True)
class Match:
    terms: tuple[str, ...]
    competitors: tuple[str, ...]
    matched: bool = True

    def __bool__(self) -> bool:
        return self.matched


NO_MATCH = Match((), (), matched=False)


def _terms(values: Iterable[str]) -> list[Term]:
    return [make_term(v) for v in values if v and tokenize(v)]


def _handle(value: str) -> str:
    return fold(value.strip()).lstrip("@")


class WatchMatcher:
    """A watch compiled for matching. With a query, the query decides; without one, any keyword or competitor."""

    def __init__(
        self,
        *,
        keywords: Sequence[str] = (),
        query: str = "",
        competitors: Sequence[dict[str, Any]] = (),
        excluded_terms: Sequence[str] = (),
        excluded_authors: Sequence[str] = (),
        languages: Sequence[str] = (),
        platforms: Sequence[str] = (),
    ) -> None:
        self.keywords = _terms(keywords)
        self.competitors: list[tuple[str, list[Term]]] = []
        expansions: dict[tuple[str, ...], Node] = {}
        for competitor in competitors:
            name = str(competitor.get("name", "")).strip()
            names = _terms([name, *competitor.get("aliases", []), *competitor.get("handles", [])])
            if not name or not names:
                continue
            self.competitors.append((name, names))
            # In a query, a competitor's name stands for all of its aliases and handles.
            expansions[names[0].tokens] = Or(tuple(names)) if len(names) > 1 else names[0]
        parsed = parse(query)
        self.query = _expand(parsed, expansions) if parsed is not None else None
        self.query_terms = list(dict.fromkeys(terms_of(self.query))) if self.query is not None else []
        self.excluded = _terms(excluded_terms)
        self.excluded_authors = frozenset(_handle(h) for h in excluded_authors if h.strip())
        self.languages = frozenset(code.strip().lower() for code in languages if code.strip())
        self.platforms = frozenset(p.strip().lower() for p in platforms if p.strip())
        every = [*self.keywords, *self.query_terms, *self.excluded]
        every += [term for _, names in self.competitors for term in names]
        if self.query is not None:
            every += list(terms_of(self.query, positive=False))
        self._evaluate = compile_query(self.query) if self.query is not None else None
        self._excluded = frozenset(term.tokens for term in self.excluded)
        # Hit keys -> what they explain, so reporting a match costs per hit, not per term of the watch.
        self._rank: dict[str, int] = {}
        self._explains: dict[tuple[str, ...], list[str]] = {}
        for term in [*self.keywords, *(self.query_terms if self.query is not None else [])]:
            self._rank.setdefault(term.text, len(self._rank))
            named = self._explains.setdefault(term.tokens, [])
            if term.text not in named:
                named.append(term.text)
        self._competitor_of: dict[tuple[str, ...], list[int]] = {}
        for position, (_, names) in enumerate(self.competitors):
            for term in names:
                self._competitor_of.setdefault(term.tokens, []).append(position)
        self.index: dict[str, list[tuple[str, ...]]] = {}
        for term in every:
            keys = self.index.setdefault(term.tokens[0], [])
            if term.tokens not in keys:
                keys.append(term.tokens)
        # Tokens that can start a hit (a term's first token, or its #hashtag): most posts share none with the
        # watch, and one set test in C says so without a Python step per token.
        self._starts = frozenset(self.index) | frozenset("#" + first for first in self.index)

    @classmethod
    def from_watch(cls, watch: Any) -> WatchMatcher:
        return cls(
            keywords=watch.keywords,
            query=watch.query or "",
            competitors=watch.competitors,
            excluded_terms=watch.excluded_terms,
            excluded_authors=watch.excluded_authors,
            languages=watch.languages,
            platforms=watch.platforms,
        )

    def hits(self, tokens: Sequence[str]) -> Hits:
        """Where each of the watch's terms starts in the tokens."""
        found: Hits = {}
        starts = self._starts
        if starts.isdisjoint(tokens):
            return found
        index = self.index
        size = len(tokens)
        for i in [i for i, token in enumerate(tokens) if token in starts]:
            token = tokens[i]
            candidates = index.get(token)
            if token[0] == "#":
                plain = index.get(token[1:])
                if plain:
                    candidates = plain if candidates is None else candidates + plain
            if not candidates:
                continue
            for key in candidates:
                length = len(key)
                if length > 1:
                    if i + length > size:
                        continue
                    if not all(tokens[i + k] == key[k] or tokens[i + k] == "#" + key[k] for k in range(1, length)):
                        continue
                found.setdefault(key, []).append(i)
        return found

    def excludes(self, *, author: str | None = None, language: str | None = None, platform: str | None = None) -> bool:
        """True when the watch rules the post out before looking at its words."""
        if author is not None and self.excluded_authors and _handle(author) in self.excluded_authors:
            return True
        if platform is not None and self.platforms and platform.lower() not in self.platforms:
            return True
        return bool(language and self.languages and language.lower() not in self.languages)

    def match_tokens(self, tokens: Sequence[str]) -> Match:
        found = self.hits(tokens)
        if not found and self._evaluate is None:
            return NO_MATCH
        if self._excluded and not self._excluded.isdisjoint(found):
            return NO_MATCH
        if self._evaluate is not None and not self._evaluate(found):
            return NO_MATCH
        explains, competitor_of = self._explains, self._competitor_of
        named = {text for key in found for text in explains.get(key, ())}
        terms = tuple(sorted(named, key=self._rank.__getitem__)) if len(named) > 1 else tuple(named)
        positions = {p for key in found for p in competitor_of.get(key, ())}
        competitors = tuple(self.competitors[p][0] for p in sorted(positions))
        if self._evaluate is None and not terms and not competitors:
            return NO_MATCH
        return Match(terms, competitors)

    def match(
        self, text: str, *, author: str | None = None, language: str | None = None, platform: str | None = None
    ) -> Match:
        if self.excludes(author=author, language=language, platform=platform):
            return NO_MATCH
        return self.match_tokens(tokenize(text))


def _expand(node: Node, expansions: dict[tuple[str, ...], Node]) -> Node:
    if isinstance(node, Term):
        return expansions.get(node.tokens, node)
    if isinstance(node, Near):
        lefts, rights = _names(node.left, expansions), _names(node.right, expansions)
        if len(lefts) == len(rights) == 1:
            return node
        return Or(tuple(Near(left, right, node.distance) for left in lefts for right in rights))
    if isinstance(node, Not):
        return Not(_expand(node.item, expansions))
    return type(node)(tuple(_expand(item, expansions) for item in node.items))


def _names(term: Term, expansions: dict[tuple[str, ...], Node]) -> list[Term]:
    expanded = expansions.get(term.tokens)
    if isinstance(expanded, Or):
        return [t for t in expanded.items if isinstance(t, Term)]
    return [term]


def match_watch(text: str, keywords: list[str], competitors: list[dict[str, Any]], excluded_terms: list[str]) -> Match:
    """One-off match without a compiled watch; store and preview compile once per watch instead."""
    return WatchMatcher(keywords=keywords, competitors=competitors, excluded_terms=excluded_terms).match(text)
