"""The person's fields for a first message: who they are, the point they raised, the competitor they named, their
content and audience (for influencers) and our offer; and `tidy`, the last pass over any rendered draft.

The fields are written to sit inside our sentences: the point is one clean clause of what they wrote (the sentence
carrying the intent cue, cut at a clause boundary, never inside a word, without links, handles or hashtags at its
ends, its first letter lower-cased when it continues our sentence), not a quote cut off mid-sentence. A field we
do not have is empty, and `tidy` then removes what its absence leaves behind ("Hi ,", "()", ", .").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from outreach.compose.drafting import FALLBACK_NAME, DraftContext, greeting_name, handle_local_part, visible_text
from outreach.compose.situations import cues, fold, named_competitors, sentences
from outreach.compose.tidy import DID, EMPTY_PAIRS, tidy, tidy_line

DEFAULT_POINT_CHARS = 120
MAX_DISPLAY_NAME_CHARS = 50

# Which sentence carries the point, strongest first (the kinds of situations.cues).
_CUE_ORDER = ("alternative", "recommendation", "complaint", "need", "price", "question")

# Links, also as some recorded tweets carry them: split by spaces ("https://www. yahoo.com/news/iphone-x- breaka…").
_URL = re.compile(
    r"(?:https?://|www\.)\s?\S+|\b\S+\.(?:com|ly|co|io|be|me|net|org|it)/\S*"
    r"|(?<!\S)(?=\S{8,})(?=\S*/)(?=\S*[\d.=_%])\S+|(?<!\S)\S*(?:\.html?|\.php|\?\S*=)\S*",
    re.I,
)
# A platform's cut ("… students w…"): the last word is probably cut off too.
_TRUNCATED = re.compile(r"\s*\S*\w…\s*$")
_HANDLE = re.compile(r"(?<!\w)@[\w.]+(?:@[\w.]+)?")  # an @ inside a word (mail, "0@") is not a handle
_HASHTAG = re.compile(r"#(\w+)")
_RETWEET = re.compile(r"^\s*RT\s+@\w+:?\s*")
# Runs of handles, hashtags and "via @x" at either end of a sentence are addressing, not content.
_EDGE_TAGS = r"(?:(?:via\s+)?@\s?[\w.]+(?:@[\w.]+)?|#\w+|[|:,;\-\u2013\u2014])"
_LEADING_TAGS = re.compile(rf"^(?:\s*{_EDGE_TAGS})+\s*")
_TRAILING_TAGS = re.compile(rf"(?:\s*{_EDGE_TAGS})+\s*$")
# Words that start a new clause: a clause may end before them.
_CONJUNCTIONS = (
    *("and", "but", "or", "because", "so", "which", "while", "although", "though", "since", "when", "if"),
    *("unless", "until", "whereas", "und", "aber", "oder", "weil", "denn", "wenn", "et", "mais", "ou", "parce"),
    *("car", "quand", "si", "y", "pero", "porque", "o", "cuando"),
)
# Words that open a sentence without being part of its point.
_OPENERS = frozenset(
    {"so", "but", "and", "also", "ok", "okay", "well", "honestly", "lol", "ugh", "tbh", "anyway", "hey", "hi"}
    | {"hello", "guys", "folks", "umm", "um", "wait", "aber", "und", "alors", "donc", "bueno", "pues"}
)
_TRAILING_PUNCTUATION = " \t,;:.!?…-\u2013\u2014'\"\u201c\u201d\u2018\u2019\u00ab\u00bb/|&+"
_PERSONAL_I = re.compile(r"^I(?:'|\u2019|$)")


@dataclass(frozen=True, slots=True)
class Person:
    display_name: str = ""
    handles: Sequence[str] = ()
    other_names: Sequence[str] = ()  # display names on their other accounts


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What we know about the person and the campaign; every field optional."""

    person: Person = Person()
    mention_text: str = ""
    competitors: Sequence[str] = ()  # the watch's competitor terms
    recent_posts: Sequence[str] = ()  # their own recent posts, newest first (influencers)
    followers: int | None = None
    audience_topics: Sequence[str] = ()  # what their audience follows them for (scoring.influencer's terms)
    offer: str = ""  # the campaign's offer or resource worth sharing
    keep_capitals: Sequence[str] = ()  # names a clause must not lower-case (our product, their brands)


@dataclass(frozen=True, slots=True)
class Personalisation:
    name: str  # the word to greet them by, FALLBACK_NAME when we know no name
    display_name: str  # their full display name, empty when it is not a name (a DID, a handle, a URL)
    point: str
    competitor: str
    recent_content: str
    audience: str
    topics: str
    offer: str

    def fields(self) -> dict[str, str]:
        """The template fields."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "point": self.point,
            "competitor": self.competitor,
            "recent_content": self.recent_content,
            "audience": self.audience,
            "topics": self.topics,
            "offer": self.offer,
        }

    def facts(self) -> dict[str, str]:
        """What we know about the person (for the linter's personalisation depth): known facts only."""
        known = {
            "their name": "" if self.name == FALLBACK_NAME else self.name,
            "the point they raised": self.point,
            "the competitor": self.competitor,
            "their recent content": self.recent_content,
        }
        return {label: fact for label, fact in known.items() if fact}


# ------------------------------------------------------------------ who they are


def display_name(person: Person) -> str:
    """Their display name as people read it, or "" when none of their names is a name (DID, handle, URL, e-mail)."""
    # Intake stores the handle as the name when a post carries none (case kept: a real "Dana" for "dana" stands).
    handles = {h.strip().lstrip("@") for h in person.handles} | {handle_local_part(h) for h in person.handles}
    for candidate in (person.display_name, *person.other_names):
        name = visible_text(candidate).strip(" .,;:-\u2013\u2014|")
        lowered = name.casefold()
        if (
            not any(ch.isalpha() for ch in name)
            or "did:" in lowered
            or "@" in name
            or "://" in lowered
            or _URL.search(name)
            or name in handles
            or len(name) > MAX_DISPLAY_NAME_CHARS
        ):
            continue
        return name
    return ""


def greeting(person: Person) -> str:
    """The word to greet them by: the first name when a name reads as a person's, else their handle's name part
    when it is letters only, else FALLBACK_NAME (the drafting module's rule, shared by every template)."""
    context = DraftContext(
        name=person.display_name,
        platform="",
        mention_text="",
        competitor=None,
        handles=tuple(person.handles),
        other_names=tuple(person.other_names),
    )
    return greeting_name(context)


# ------------------------------------------------------------------ what they said


def _strip_noise(text: str) -> str:
    text = _RETWEET.sub("", text)
    text = _URL.sub(" ", text)
    text = _TRUNCATED.sub("", text)
    return DID.sub(" ", text)


def _without_edges(sentence: str) -> str:
    """The sentence without handles and hashtags at its ends; inside it, "#crm" reads as "crm", "@acme" as
    "acme"."""
    sentence = " ".join(sentence.split())
    sentence = _LEADING_TAGS.sub("", sentence)
    sentence = _TRAILING_TAGS.sub("", sentence)
    sentence = _HASHTAG.sub(r"\1", sentence)
    return _HANDLE.sub(lambda m: m.group(0).lstrip("@ ").split("@")[0], sentence)


def _trim_ends(clause: str) -> str:
    clause = clause.strip(_TRAILING_PUNCTUATION)
    words = clause.split()
    while words and words[0].casefold().strip(",.!:;") in _OPENERS:
        words.pop(0)
    clause = " ".join(words).strip(_TRAILING_PUNCTUATION)
    # A bracket or quote left open by the cut goes with it (as a space, so "0[0" does not become one word).
    for opening, closing in ("()", "[]", "\u201c\u201d", "\u00ab\u00bb"):
        if clause.count(opening) != clause.count(closing):
            clause = clause.replace(opening, " ").replace(closing, " ")
    if clause.count('"') % 2:
        clause = clause.replace('"', " ")
    return " ".join(clause.split())


_CUT_AFTER = re.compile(r"[,;:\u2013\u2014)](?=\s)")
_CUT_BEFORE = re.compile(r"\s+(?:-\s|\()|\s+(?=(?:" + "|".join(_CONJUNCTIONS) + r")\b)", re.I)


def _pieces(sentence: str) -> list[str]:
    """The sentence cut at every clause boundary: after clause punctuation, before a dash, a bracket or a
    conjunction; the pieces joined give the sentence back."""
    cuts = {m.end() for m in _CUT_AFTER.finditer(sentence)} | {m.start() for m in _CUT_BEFORE.finditer(sentence)}
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(sentence)), len(sentence)]
    return [sentence[a:b] for a, b in pairwise(bounds) if sentence[a:b].strip()]


def _clause(sentence: str, phrase: str, limit: int) -> str:
    """The longest run of whole clauses around the one holding `phrase` that fits in `limit` characters."""
    if len(_trim_ends(sentence)) <= limit:
        return _trim_ends(sentence)
    pieces = _pieces(sentence)
    if not pieces:
        return ""
    folded_phrase = fold(phrase)[0] if phrase else ""
    start = next((i for i, p in enumerate(pieces) if folded_phrase and folded_phrase in fold(p)[0]), 0)
    first = last = start
    if len(_trim_ends(pieces[start])) > limit:
        return ""
    while True:
        grown = False
        if last + 1 < len(pieces) and len(_trim_ends("".join(pieces[first : last + 2]))) <= limit:
            last += 1
            grown = True
        elif first > 0 and len(_trim_ends("".join(pieces[first - 1 : last + 1]))) <= limit:
            first -= 1
            grown = True
        if not grown:
            return _trim_ends("".join(pieces[first : last + 1]))


def _clean_clause(clause: str) -> str:
    """Spacing and punctuation tidied, then the ends trimmed again: each can expose work for the other."""
    for _ in range(5):
        previous = clause
        clause = _trim_ends(tidy_line(EMPTY_PAIRS.sub(" ", clause)))
        if clause == previous:
            break
    return clause


def _continue_sentence(clause: str, text: str, keep_capitals: Iterable[str]) -> str:
    """Lower-case the clause's first letter when it is an ordinary capitalised word, so it reads on from ours;
    "I", acronyms, names we know and words the person capitalises mid-sentence (names) keep their capital."""
    first = clause.split(" ", 1)[0] if clause else ""
    bare = first.strip("\"'\u201c\u2018(")
    if not bare or not bare[0].isupper() or _PERSONAL_I.match(bare):
        return clause
    letters = [ch for ch in bare if ch.isalpha()]
    if len(letters) > 1 and all(ch.isupper() for ch in letters[:2]):
        return clause  # CRM, iOS-style acronyms
    if any(ch.isupper() for ch in bare[1:]):
        return clause  # HubSpot, iPhone-like names
    words = clause.split(" ", 2)
    following = words[1].strip(".,;:!?") if len(words) > 1 else ""
    if len(following) > 1 and following.isupper():
        return clause  # "Show HN", "Ask HN": a capitalised word heading an acronym is a title, not sentence case
    word = bare.strip(".,;:!?").casefold()
    kept = {w.casefold() for name in keep_capitals for w in name.split()}
    if word in kept or re.search(rf"(?<=[a-z] ){re.escape(bare.strip('.,;:!?'))}\b", text):
        return clause
    at = clause.index(bare[0])
    return clause[:at] + bare[0].lower() + clause[at + 1 :]


def point_raised(
    text: str, limit: int = DEFAULT_POINT_CHARS, continues: bool = True, keep_capitals: Iterable[str] = ()
) -> str:
    """The point they raised as one clean clause of at most `limit` characters, or "" when no clause fits.

    The sentence is the one carrying the strongest intent cue (an alternative asked for, a complaint, a need, a
    question), else their first sentence of three words or more. It is cut at clause boundaries, never inside a
    word, and its end punctuation goes, so a template adds its own."""
    cleaned = _strip_noise(text)
    found = {c.kind: c for c in reversed(cues(cleaned))}  # the first cue of each kind wins
    cue = next((found[kind] for kind in _CUE_ORDER if kind in found), None)
    candidates = [cue.sentence] if cue else [s for s in sentences(cleaned) if len(s.split()) >= 3]
    for sentence in candidates:
        phrase = "" if cue is None or cue.phrase == cue.sentence else cue.phrase
        clause = _clean_clause(_clause(_without_edges(sentence), phrase, limit))
        if len(clause.split()) >= 2 or (clause and cue is not None):
            return _continue_sentence(clause, cleaned, keep_capitals) if continues else clause
    return ""


def competitor_named(text: str, competitors: Sequence[str]) -> str:
    """The competitor they named first, spelt as the watch spells it; else the first the mention matched."""
    named = named_competitors(text, competitors)
    if named:
        return named[0]
    return next((c.strip() for c in competitors if c and c.strip()), "")


# ------------------------------------------------------------------ influencers and the offer


def short_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 1000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return str(n)


def natural_list(items: Iterable[str]) -> str:
    """ "crm", "crm and sales", "crm, sales and pipelines"."""
    words = list(dict.fromkeys(i.strip() for i in items if i and i.strip()))
    if len(words) <= 1:
        return words[0] if words else ""
    return ", ".join(words[:-1]) + f" and {words[-1]}"


def recent_content(posts: Sequence[str], topics: Sequence[str], limit: int = DEFAULT_POINT_CHARS) -> str:
    """A clause from their most recent post on one of the topics (else their most recent post with a clause)."""
    folded_topics = [fold(t)[0] for t in topics if t.strip()]
    on_topic = [p for p in posts if any(t in fold(p)[0] for t in folded_topics)]
    for post in [*on_topic, *posts]:
        clause = point_raised(post, limit)
        if clause:
            return clause
    return ""


def audience(followers: int | None) -> str:
    return f"{short_count(followers)} followers" if followers and followers > 0 else ""


def offer_clause(offer: str) -> str:
    """The campaign's offer as a clause the template ends with its own punctuation."""
    return tidy(offer).strip(_TRAILING_PUNCTUATION.replace('"', "").replace("'", ""))


def personalise(lead: LeadFacts, limit: int = DEFAULT_POINT_CHARS) -> Personalisation:
    keep = (*lead.competitors, *lead.keep_capitals)
    return Personalisation(
        name=greeting(lead.person),
        display_name=display_name(lead.person),
        point=point_raised(lead.mention_text, limit, keep_capitals=keep),
        competitor=competitor_named(lead.mention_text, lead.competitors),
        recent_content=recent_content(lead.recent_posts, lead.audience_topics, limit),
        audience=audience(lead.followers),
        topics=natural_list(lead.audience_topics[:3]),
        offer=offer_clause(lead.offer),
    )
