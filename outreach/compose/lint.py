"""Lint a draft before a rep approves it: findings with a severity and a plain-words suggestion each.

Pure and fast (no database, no network, about a millisecond for a typical draft), so the API can run it on every
edit; `blocks(findings)` is what approval asks. What it checks:

- length against the platform's hard limit, counted as the platform counts: X counts code points with every link
  as 23 (public replies by X's weighted count: most scripts and every emoji count 2, limit 280); Bluesky counts
  graphemes (user-perceived characters: a family emoji joined by ZWJ is one); Mastodon counts graphemes with
  every http(s) link as 23 and a mention as its local part (`@dana@mastodon.social` counts as `@dana`); Reddit
  counts characters; e-mail has no hard limit. Over the limit blocks, since the platform would refuse the send;
- the length sweet spot per kind of message (warn);
- promotional, pushy and spam phrasing from the lexicon shipped in `outreach/compose/lexicon/<language>.txt`
  (each category names its severity there: spam blocks, the rest warn or inform);
- links and prices in a first message (`first_dm`, `public_reply`): a link or a price warns, because the person
  may have asked for exactly that resource; a shortened link blocks, because the reader cannot see where it
  goes and platforms filter them as spam;
- an unfilled placeholder (`{{ name }}`, `[First name]`, `%NAME%`) or a raw DID blocks;
- reading ease by textstat's Flesch reading ease for the draft's language (warn under `min_reading_ease`);
- a question or another invitation to reply (warn when missing);
- personalisation depth: how many of the person's facts (their name, the point they raised, the competitor,
  their recent content) the draft uses (warn when none, info when under `min_facts_used`);
- "reads like a template": the Jaccard similarity of 5-gram sets (over the folded words, as bit fingerprints)
  with each draft sent today; at `template_similarity_warn` (0.5) it warns, at `template_similarity_block` (0.9:
  the same message with a name swapped) it blocks, because platforms treat identical bulk DMs as spam. Two drafts from
  one template with different names and points score about 0.55-0.75; unrelated drafts on one topic under 0.2.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

import numpy as np

# Neither ships type information (no stubs in the lock yet).
import regex  # type: ignore[import-untyped]
from textstat.textstat import textstatistics  # type: ignore[import-untyped]

from listeners.normalise import guess_language
from listeners.query import tokenize

Severity = Literal["block", "warn", "info"]
SEVERITIES: tuple[Severity, ...] = ("block", "warn", "info")
_SEVERITY_NAMES: dict[str, Severity] = {severity: severity for severity in SEVERITIES}
FIRST_TOUCH_KINDS = frozenset({"first_dm", "public_reply"})
PUBLIC_KINDS = frozenset({"public_reply"})
# Kinds that should leave the person something to answer; a reply to their own question need not.
INVITING_KINDS = frozenset({"first_dm", "public_reply", "follow_up"})


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    suggestion: str
    # Character offsets [start, end) into the draft, when the finding is about one place in it.
    span: tuple[int, int] | None = None


# Every code the linter reports with its severity and the suggestion the rep reads (lexicon findings take their
# severity from the lexicon file and their suggestion from LEXICON_SUGGESTIONS).
ADVICE: dict[str, tuple[Severity, str]] = {
    "empty": ("block", "Write a message, or discard the draft if none is due."),
    "placeholder": ("block", "Replace it with the real words (their name, your product) or delete it."),
    "too_long": ("block", "Cut it down to the one point that matters to them; the platform refuses longer ones."),
    "shortened_link": ("block", "Leave the link out, or give the full address once they ask for it."),
    "near_duplicate": ("block", "Rewrite it around what this person said; only a greeting may repeat."),
    "longer_than_sweet_spot": ("warn", "Keep to three sentences: what they said, how you help, a question."),
    "link_in_first_message": ("warn", "Offer it instead (\u201cshall I send the guide?\u201d); link when asked."),
    "price_in_first_message": ("warn", "Leave the price for when they ask about cost."),
    "shouting": ("warn", "Write them in normal case; stress one word at most."),
    "exclamations": ("warn", "Keep one at most, and let the words carry the enthusiasm."),
    "hard_to_read": ("warn", "Use shorter sentences and everyday words; one idea per sentence."),
    "no_question": ("warn", "End with one easy, open question about them (\u201cwhat made you look?\u201d)."),
    "not_personal": ("warn", "Mention what they said or who they are, so it could not be sent to anyone else."),
    "reads_like_template": ("warn", "Make the opening and the question about this person's post, not your product."),
    "shorter_than_sweet_spot": ("info", "Add a sentence that shows you read their post, or what you can offer them."),
    "little_personalisation": ("info", "Use one more thing they said or did, in your own words."),
}
LEXICON_SUGGESTIONS = {
    "spam": "Remove it: phrases like this get a message filtered as spam and make the person stop reading.",
    "promotional": "Say what the product does for them in plain words, or leave the pitch out of this message.",
    "pushy": "Take the pressure out: offer help and let them choose whether and when to answer.",
    "stock_opener": "Open with what they said instead; the first line is the one that gets read.",
}
GENERIC_LEXICON_SUGGESTION = "Rephrase it in your own words."


def finding(code: str, message: str, span: tuple[int, int] | None = None) -> Finding:
    severity, suggestion = ADVICE[code]
    return Finding(code, severity, message, suggestion, span)


@dataclass(frozen=True, slots=True)
class LintLimits:
    """The linter's knobs; flat fields so crm/settings.py can mirror them one to one."""

    x_dm_max_chars: int = 10_000
    x_post_max_weight: int = 280
    x_url_chars: int = 23
    bluesky_chat_max_graphemes: int = 1_000
    bluesky_post_max_graphemes: int = 300
    mastodon_max_chars: int = 500
    mastodon_url_chars: int = 23
    reddit_max_chars: int = 10_000
    # Sweet spots, in the platform's own count: long enough to show you read their post, short enough to read
    # in a notification; e-mail gets the 50-125 words that cold-mail studies find answered most.
    dm_min_chars: int = 120
    dm_max_chars: int = 600
    public_reply_min_chars: int = 40
    public_reply_max_chars: int = 240
    email_min_chars: int = 250
    email_max_chars: int = 900
    # Flesch reading ease: 60-70 is plain language; under 50 reads like a report.
    min_reading_ease: float = 50.0
    # Below this many words the formula says more about one sentence's length than about the draft.
    min_words_for_reading_ease: int = 12
    template_similarity_warn: float = 0.5
    template_similarity_block: float = 0.9
    min_facts_used: int = 2


DEFAULT_LIMITS = LintLimits()

_GRAPHEME = regex.compile(r"\X")
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Emoji_Presentation}|\p{Regional_Indicator}")
# A link as X and readers see one: with a scheme, from www., or a bare domain with a common top-level domain.
_TLDS = "com|net|org|io|co|ai|app|dev|me|ly|gl|to|de|fr|es|it|nl|eu|uk|us|ca|info|biz|xyz|social|link"
_URL = regex.compile(
    rf"(?:https?://|www\.)[^\s<>\"']+|(?<![\w@./-])(?:[a-z0-9-]+\.)+(?:{_TLDS})(?![\w-])(?:/[^\s<>\"']*)?",
    regex.IGNORECASE,
)
_SCHEME_URL = regex.compile(r"https?://[^\s<>\"']+", regex.IGNORECASE)
_TRAILING = ".,;:!?)]}'\"\u2019\u201d"
_MASTODON_MENTION = regex.compile(r"(?<![\w@])@(\w+)@[\w.-]+\w")
_SHORTENER_HOSTS = (
    "bit.ly t.co tinyurl.com goo.gl ow.ly buff.ly is.gd rebrand.ly cutt.ly shorturl.at t.ly tiny.cc lnkd.in"
)
_SHORTENERS = frozenset(_SHORTENER_HOSTS.split())
_PRICE = regex.compile(
    r"[$€£¥₹]\s?\d[\d.,]*"
    r"|\b\d[\d.,]*\s?(?:[$€£¥₹]|(?:eur|usd|gbp|chf|euros?|dollars?|dólares|pounds)\b)"
    r"|\b(?:eur|usd|gbp|chf)\s?\d[\d.,]*",
    regex.IGNORECASE,
)
_PLACEHOLDER = regex.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\{\s*[A-Za-z_]\w*\s*\}|<\s*(?:first[ _]?)?name\s*>"
    r"|\[\s*(?:your |their |first |last |company |product |competitor )?(?:name|company|product|competitor|"
    r"first name|topic|link)\s*\]|\bdid:(?:plc|web):[\w.:%-]+|\blorem ipsum\b"
    # Upper case only: Spanish "todo" is a word, TODO is a note to self.
    r"|(?-i:\bTODO\b|\bTBD\b|%[A-Z][A-Z_]+%)",
    regex.IGNORECASE,
)
_QUESTION = regex.compile("[?\u00bf\uff1f\u061f]")
_SHOUTED_WORD = regex.compile(r"\b\p{Lu}{4,}\b")
_SHOUTING_WORDS = 3
_EXCLAIMED = regex.compile(r"!{2,}")
_MAX_EXCLAMATIONS = 2
_SHINGLE = 5
_FINGERPRINT_BITS = 1 << 13
_U64 = np.uint64
# Long function words of en/de/fr/es: sharing one of these with a fact says nothing about using it.
_FUNCTION_WORD_LIST = (
    "that this with have from your what they them were will would about there their which when been just also "
    "really some only very much could should into than then more most eine einen nicht sich auch wenn aber oder "
    "sind habe dass noch ihre mein dein euch pour dans avec vous nous mais plus sont elle tout cette para como "
    "pero este esta todo tiene porque donde sobre"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())

Counting = Literal["characters", "graphemes", "x_weighted"]


@dataclass(frozen=True, slots=True)
class LengthRule:
    """How one platform counts one kind of message, and its hard limit (None: none)."""

    label: str
    counting: Counting
    max_length: int | None
    url_chars: int | None = None
    mentions_as_local_part: bool = False


def length_rule(platform: str, kind: str, limits: LintLimits = DEFAULT_LIMITS) -> LengthRule:
    public = kind in PUBLIC_KINDS
    if platform == "x":
        if public:
            return LengthRule("X post", "x_weighted", limits.x_post_max_weight, limits.x_url_chars)
        return LengthRule("X DM", "characters", limits.x_dm_max_chars, limits.x_url_chars)
    if platform == "bluesky":
        if public:
            return LengthRule("Bluesky post", "graphemes", limits.bluesky_post_max_graphemes)
        return LengthRule("Bluesky chat", "graphemes", limits.bluesky_chat_max_graphemes)
    if platform == "mastodon":
        return LengthRule("Mastodon", "graphemes", limits.mastodon_max_chars, limits.mastodon_url_chars, True)
    if platform == "reddit":
        return LengthRule("Reddit", "characters", limits.reddit_max_chars)
    return LengthRule("e-mail" if platform == "email" else platform or "this platform", "characters", None)


def grapheme_count(text: str) -> int:
    """User-perceived characters (Unicode extended grapheme clusters), as Bluesky and Mastodon count them."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(_GRAPHEME.findall(text))


def _url_spans(text: str, pattern: regex.Pattern[str] = _URL) -> list[tuple[int, int]]:
    spans = []
    for match in pattern.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def _x_weight(text: str) -> int:
    """X's weighted length (twitter-text v3): Latin and common punctuation 1, other code points 2, an emoji 2."""
    text = unicodedata.normalize("NFC", text)
    if text.isascii():
        return len(text)
    total = 0
    for cluster in _GRAPHEME.findall(text):
        if _EMOJI.search(cluster):
            total += 2
            continue
        for char in cluster:
            point = ord(char)
            light = point <= 4351 or 8192 <= point <= 8205 or 8208 <= point <= 8223 or 8242 <= point <= 8247
            total += 1 if light else 2
    return total


def _count(text: str, counting: Counting) -> int:
    if counting == "graphemes":
        return grapheme_count(text)
    if counting == "x_weighted":
        return _x_weight(text)
    return len(unicodedata.normalize("NFC", text)) if not text.isascii() else len(text)


def _link_pattern(platform: str) -> regex.Pattern[str]:
    # Mastodon gives the 23-character concession only to links it recognises, which need a scheme.
    return _SCHEME_URL if platform == "mastodon" else _URL


def platform_length(text: str, platform: str, kind: str = "first_dm", limits: LintLimits = DEFAULT_LIMITS) -> int:
    """The draft's length as the platform counts it for this kind of message."""
    rule = length_rule(platform, kind, limits)
    if rule.mentions_as_local_part:
        text = _MASTODON_MENTION.sub(r"@\1", text)
    if rule.url_chars is None:
        return _count(text, rule.counting)
    total, last = 0, 0
    for start, end in _url_spans(text, _link_pattern(platform)):
        total += _count(text[last:start], rule.counting) + rule.url_chars
        last = end
    return total + _count(text[last:], rule.counting)


def _length_findings(text: str, platform: str, kind: str, limits: LintLimits) -> list[Finding]:
    rule = length_rule(platform, kind, limits)
    length = platform_length(text, platform, kind, limits)
    unit = "characters" if rule.counting != "graphemes" else "characters (graphemes)"
    how = {"x_weighted": ", most scripts and emoji counting double", "graphemes": ""}.get(rule.counting, "")
    if rule.url_chars is not None and _url_spans(text, _link_pattern(platform)):
        how += f", each link as {rule.url_chars}"
    if rule.max_length is not None and length > rule.max_length:
        message = (
            f"{rule.label} counts {length:,} {unit}{how}: {length - rule.max_length:,} over its {rule.max_length:,}."
        )
        return [finding("too_long", message)]
    if platform == "email":
        low, high = limits.email_min_chars, limits.email_max_chars
    elif kind in PUBLIC_KINDS:
        low, high = limits.public_reply_min_chars, limits.public_reply_max_chars
    else:
        low, high = limits.dm_min_chars, limits.dm_max_chars
    if rule.max_length is not None:
        high = min(high, rule.max_length)
    if low <= length <= high:
        return []
    code, than = ("longer_than_sweet_spot", "longer") if length > high else ("shorter_than_sweet_spot", "shorter")
    return [finding(code, f"At {length:,} {unit} it is {than} than the {low:,}-{high:,} that get read and answered.")]


@dataclass(frozen=True, slots=True)
class LexiconCategory:
    name: str
    severity: Severity | None  # None: phrases that count for something, never flagged
    pattern: regex.Pattern[str]


def _phrase_pattern(phrase: str) -> str:
    # A word ending in * takes any ending, for inflected languages ("bahnbrechend*": bahnbrechende, -es).
    words = regex.findall(r"\w+\*?", phrase)
    return r"[\s\p{P}\p{S}]+".join(regex.escape(w.rstrip("*")) + (r"\w*" if w[-1] == "*" else "") for w in words)


def parse_lexicon(text: str, source: str = "lexicon") -> list[LexiconCategory]:
    """Categories of a lexicon file: `[name severity]` headers, one phrase a line, `#` comments."""
    categories: list[LexiconCategory] = []
    phrases: list[str]
    name, phrases = "", []
    severity: Severity | None = None

    def close() -> None:
        if name and phrases:
            alternation = "|".join(sorted(set(phrases), key=len, reverse=True))
            pattern = regex.compile(rf"(?<!\w)(?:{alternation})(?!\w)", regex.IGNORECASE | regex.FULLCASE)
            categories.append(LexiconCategory(name, severity, pattern))

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            close()
            parts = line.strip("[]").split()
            if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in SEVERITIES):
                raise ValueError(f"{source}:{number}: a header is [name] or [name block|warn|info], not {line!r}")
            name, severity, phrases = parts[0], _SEVERITY_NAMES.get(parts[-1]) if len(parts) == 2 else None, []
            continue
        if not name:
            raise ValueError(f"{source}:{number}: phrase {line!r} comes before any [category] header")
        pattern = _phrase_pattern(line)
        if pattern:
            phrases.append(pattern)
    close()
    return categories


@cache
def lexicon_languages() -> tuple[str, ...]:
    folder = resources.files("outreach.compose").joinpath("lexicon")
    return tuple(sorted(entry.name[:-4] for entry in folder.iterdir() if entry.name.endswith(".txt")))


@lru_cache(maxsize=64)  # bounded: the language comes from the caller
def lexicon(language: str) -> tuple[LexiconCategory, ...]:
    """The shipped lexicon of one language (ISO 639-1), parsed once per process; empty when none ships."""
    if language not in lexicon_languages():
        return ()
    resource = resources.files("outreach.compose").joinpath("lexicon", f"{language}.txt")
    return tuple(parse_lexicon(resource.read_text(encoding="utf-8"), f"lexicon/{language}.txt"))


def _lexicons_for(language: str | None) -> list[tuple[str, LexiconCategory]]:
    languages = [language] if language and lexicon(language) else list(lexicon_languages())
    return [(lang, category) for lang in languages for category in lexicon(lang)]


def _lexicon_findings(text: str, categories: Iterable[tuple[str, LexiconCategory]]) -> list[Finding]:
    findings = []
    seen: set[tuple[int, int]] = set()
    for language, category in categories:
        if category.severity is None:
            continue
        for match in category.pattern.finditer(text):
            if match.span() in seen:  # one phrase listed in two languages ("urgent") is one finding
                continue
            seen.add(match.span())
            label = category.name.replace("_", " ")
            advice = LEXICON_SUGGESTIONS.get(category.name, GENERIC_LEXICON_SUGGESTION)
            message = f"\u201c{match.group()}\u201d reads as {label} ({language} lexicon)."
            findings.append(Finding(f"{category.name}_phrase", category.severity, message, advice, match.span()))
    return findings


def _link_and_price_findings(text: str, kind: str) -> list[Finding]:
    if kind not in FIRST_TOUCH_KINDS:
        return []
    findings = []
    for start, end in _url_spans(text):
        link = text[start:end]
        host = regex.sub(r"^(?:https?://)?(?:www\.)?", "", link, flags=regex.IGNORECASE).split("/", 1)[0].lower()
        if host in _SHORTENERS:
            message = f"{link} is a shortened link: the reader cannot see where it goes, and platforms filter it."
            findings.append(finding("shortened_link", message, (start, end)))
        else:
            message = f"A first message with a link ({link}) is more often filtered and less often answered."
            findings.append(finding("link_in_first_message", message, (start, end)))
    for match in _PRICE.finditer(text):
        message = f"A price ({match.group().strip()}) in a first message turns a conversation into a sales pitch."
        findings.append(finding("price_in_first_message", message, match.span()))
    return findings


def _placeholder_findings(text: str) -> list[Finding]:
    return [
        finding("placeholder", f"\u201c{match.group()}\u201d is a placeholder or a raw identifier.", match.span())
        for match in _PLACEHOLDER.finditer(text)
    ]


def _style_findings(text: str) -> list[Finding]:
    findings = []
    shouted = [m for m in _SHOUTED_WORD.finditer(text) if not _inside_link(text, m.start())]
    if len(shouted) >= _SHOUTING_WORDS:
        words = ", ".join(m.group() for m in shouted[:3])
        findings.append(
            finding("shouting", f"{len(shouted)} words in capitals ({words}) read as shouting.", shouted[0].span())
        )
    runs = list(_EXCLAIMED.finditer(text))
    if runs or text.count("!") > _MAX_EXCLAMATIONS:
        message = f"{text.count('!')} exclamation marks make the message sound like an ad."
        findings.append(finding("exclamations", message, runs[0].span() if runs else None))
    return findings


def _inside_link(text: str, offset: int) -> bool:
    return any(start <= offset < end for start, end in _url_spans(text))


@cache
def _readability(language: str) -> textstatistics:
    # One textstat object per language: set_lang on the shared module-level one would leak between threads.
    stats = textstatistics()
    stats.set_lang(language)
    return stats


# The languages textstat 0.7.8 has Flesch constants for (its Polish entry has none).
READING_EASE_LANGUAGES = frozenset({"en", "de", "es", "fr", "it", "nl", "ru", "hu"})


def reading_ease(text: str, language: str) -> float | None:
    """Flesch reading ease of the draft's prose (links and @handles left out); None when it cannot be measured."""
    if language not in READING_EASE_LANGUAGES:
        return None
    prose = regex.sub(r"(?<!\w)@[\w.@-]+", " ", _URL.sub(" ", text))
    try:
        return float(_readability(language).flesch_reading_ease(prose))
    except Exception:  # a readability library's failure on odd text must never stop a rep from linting
        return None


def _reading_findings(text: str, language: str | None, limits: LintLimits) -> list[Finding]:
    if language is None or len(tokenize(text)) < limits.min_words_for_reading_ease:
        return []
    ease = reading_ease(text, language)
    if ease is None or ease >= limits.min_reading_ease:
        return []
    wanted = f"{limits.min_reading_ease:.0f}"
    return [finding("hard_to_read", f"Reading ease is {ease:.0f} (Flesch, {language}); aim for {wanted} or more.")]


def _question_findings(text: str, kind: str, categories: Sequence[tuple[str, LexiconCategory]]) -> list[Finding]:
    if kind not in INVITING_KINDS or _QUESTION.search(text):
        return []
    if any(c.severity is None and c.name == "invites_reply" and c.pattern.search(text) for _, c in categories):
        return []
    return [finding("no_question", "Nothing in the draft invites an answer.")]


def _content_tokens(text: str) -> set[str]:
    return {t for t in tokenize(text) if len(t) >= 4 and t not in _FUNCTION_WORDS and not t.startswith("@")}


def fact_is_used(fact: str, draft_tokens: set[str]) -> bool:
    """A short fact (a name, a competitor) is used when one of its words is there; a longer one (the point they
    raised, their recent content) when two of its content words are, or its only one."""
    tokens = [t.lstrip("@#$") for t in tokenize(fact)]
    if len(tokens) <= 3:
        return any(t in draft_tokens for t in tokens if len(t) >= 2)
    content = _content_tokens(fact)
    return len(content & draft_tokens) >= min(2, len(content)) if content else False


def _fact_findings(text: str, facts: Mapping[str, str] | Sequence[str], limits: LintLimits) -> list[Finding]:
    labelled = (
        list(facts.items()) if isinstance(facts, Mapping) else [(f"fact {i + 1}", f) for i, f in enumerate(facts)]
    )
    known = [(label, fact) for label, fact in labelled if fact and fact.strip()]
    if not known:
        return []
    draft_tokens = {t.lstrip("@#$") for t in tokenize(text)}
    unused = [label for label, fact in known if not fact_is_used(fact, draft_tokens)]
    used = len(known) - len(unused)
    wanted = min(limits.min_facts_used, len(known))
    if used >= wanted:
        return []
    message = f"The draft uses {used} of the {len(known)} things we know about this person (not: {', '.join(unused)})."
    return [finding("not_personal" if used == 0 else "little_personalisation", message)]


@lru_cache(maxsize=4096)
def fingerprint(text: str) -> int:
    """The draft's byte 5-grams (over its folded words, UTF-8) as bits of one 8,192-bit integer: comparing two
    drafts is then an AND and a popcount instead of a set intersection. With a few hundred 5-grams per draft, bit
    collisions move a similarity by about a hundredth. Cached because today's drafts recur on every edit."""
    raw = " ".join(tokenize(text)).encode(errors="surrogatepass")  # JSON may carry a lone surrogate
    if not raw:
        return 0
    data = np.frombuffer(raw.ljust(_SHINGLE, b" "), dtype=np.uint8).astype(np.uint64)
    grams = data[: 1 - _SHINGLE] << _U64(32)
    for offset in range(1, _SHINGLE):
        grams |= data[offset : len(data) - _SHINGLE + 1 + offset] << _U64(8 * (_SHINGLE - 1 - offset))
    # Fibonacci hashing: the top 13 bits of the 5-gram times 2^64/phi spread neighbouring 5-grams apart.
    bits = np.zeros(_FINGERPRINT_BITS, dtype=np.uint8)
    bits[(grams * _U64(0x9E3779B97F4A7C15)) >> _U64(64 - 13)] = 1
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def similarity(a: int, b: int) -> float:
    """Jaccard similarity of two fingerprints: shared 5-grams over all 5-grams of either."""
    union = (a | b).bit_count()
    return (a & b).bit_count() / union if union else 0.0


def _similarity_findings(text: str, recent_drafts: Sequence[str], limits: LintLimits) -> list[Finding]:
    mine = fingerprint(text)
    if not mine or not recent_drafts:
        return []
    scores = [similarity(mine, fingerprint(other)) for other in recent_drafts]
    close = [s for s in scores if s >= limits.template_similarity_warn]
    if not close:
        return []
    best = max(scores)
    closest = recent_drafts[scores.index(best)]
    preview = " ".join(closest.split())[:60]
    if best >= limits.template_similarity_block:
        message = (
            f"It is {best:.0%} the same as a draft sent today (\u201c{preview}\u2026\u201d): bulk copies are spam."
        )
        return [finding("near_duplicate", message)]
    message = f"It reads like a template: {len(close)} of today's drafts share up to {best:.0%} of its wording."
    return [finding("reads_like_template", f"{message} The closest: \u201c{preview}\u2026\u201d")]


def resolve_language(text: str, language: str | None) -> str | None:
    """`de-DE` -> `de`; with no language given, the stopword vote on the draft (None when it cannot tell)."""
    if language:
        return regex.split(r"[-_]", language.strip(), maxsplit=1)[0].lower() or None
    return guess_language(tokenize(text))


def lint_draft(
    text: str,
    *,
    platform: str,
    kind: str = "first_dm",
    facts: Mapping[str, str] | Sequence[str] = (),
    recent_drafts: Sequence[str] = (),
    language: str | None = None,
    limits: LintLimits = DEFAULT_LIMITS,
) -> list[Finding]:
    """Every finding about the draft, blocking ones first.

    `facts` are what we know about the person (a mapping label -> text names them in the message);
    `recent_drafts` are other drafts sent today, not earlier versions of this one.
    """
    if not text.strip():
        return [finding("empty", "The draft is empty.")]
    lang = resolve_language(text, language)
    categories = _lexicons_for(lang)
    findings = [
        *_placeholder_findings(text),
        *_length_findings(text, platform, kind, limits),
        *_lexicon_findings(text, categories),
        *_link_and_price_findings(text, kind),
        *_style_findings(text),
        *_reading_findings(text, lang, limits),
        *_question_findings(text, kind, categories),
        *_fact_findings(text, facts, limits),
        *_similarity_findings(text, recent_drafts, limits),
    ]
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))
    return findings


def blocks(findings: Iterable[Finding]) -> bool:
    """True when a finding stops approval; warnings and information never do."""
    return any(f.severity == "block" for f in findings)


def warm_up(languages: Iterable[str] = ("en",)) -> None:
    """Load the lexicons and textstat's dictionaries now (the CMU dictionary alone takes a second or more), so the
    first lint of a process is as fast as the rest; for the app's and worker's start-up."""
    for language in lexicon_languages():
        lexicon(language)
    for language in languages:
        reading_ease("Thanks for the post. What made you look for another tool?", language)
