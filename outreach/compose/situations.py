"""Which situation a first message answers, read from the lead's mention, its score reasons and the caller's context.

The situation picks the built-in template: someone asking for an alternative or a recommendation gets a different
opener from someone complaining about a competitor, asking a product question, or an influencer we would like to
work with. Three situations are never guessed from text because only the caller knows them: the message follows a
support case, or is the first or second follow-up of a sequence. New followers come from a follow event, also
given by the caller.

The rules are deterministic and explainable: every choice names the cue that decided it and the sentence it was
found in. They are read per sentence, so "a simple alternative to streaming" (a statement) is not a request for an
alternative while "any alternative to Pipedrive?" is. English cues are the scoring package's (`scoring.features`),
with simple German, French and Spanish cues beside them; text is case- and accent-folded before matching.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from scoring.features import CUE_REASONS, CUES


class Situation(StrEnum):
    ASKS_FOR_ALTERNATIVE = "asks_for_alternative"
    COMPETITOR_COMPLAINT = "competitor_complaint"
    PRODUCT_QUESTION = "product_question"
    CANDIDATE_INFLUENCER = "candidate_influencer"
    NEW_FOLLOWER = "new_follower"
    AFTER_SUPPORT_CASE = "after_support_case"
    FOLLOW_UP_1 = "follow_up_1"
    FOLLOW_UP_2 = "follow_up_2"


# An influencer score (0-100, scoring.influencer) at or above this makes a collaboration pitch worth writing; when
# only the tier is known, micro and larger qualify (a nano account's reach rarely pays for a pitch).
INFLUENCER_MIN_SCORE = 50.0
INFLUENCER_TIERS = frozenset({"micro", "mid", "macro", "mega"})
# VADER compound at or below this reads as a complaint even without a complaint word ("support never answers").
NEGATIVE_TONE = -0.4


@dataclass(frozen=True, slots=True)
class LeadSignals:
    """What the lead said and how it scored; every field optional."""

    text: str = ""
    reasons: Sequence[str] = ()
    competitors: Sequence[str] = ()  # the watch's competitor terms this mention matched
    influencer_score: float | None = None
    influencer_tier: str | None = None
    authentic: bool | None = None  # False when scoring.influencer doubts the account
    sentiment: float | None = None  # the mention's stored VADER compound, -1..1


@dataclass(frozen=True, slots=True)
class SituationContext:
    """What only the caller knows: which step of a sequence this is and what happened before."""

    follow_up: int = 0  # 0 for a first message, 1 or 2 for a sequence's follow-ups
    after_support_case: bool = False
    new_follower: bool = False

    def __post_init__(self) -> None:
        if self.follow_up not in (0, 1, 2):
            raise ValueError(f"a sequence has follow-ups 1 and 2, not {self.follow_up}")


@dataclass(frozen=True, slots=True)
class Cue:
    """One intent cue found in the text: its kind, the words as the person wrote them, and their sentence."""

    kind: str
    phrase: str
    sentence: str


@dataclass(frozen=True, slots=True)
class SituationChoice:
    situation: Situation | None  # None: no situation fits, so the general first message applies
    cue: str  # why, in plain words
    sentence: str = ""  # the sentence of the mention that decided it, when the text did


def _en(name: str) -> str:
    return next(pattern.pattern for cue, pattern, _ in CUES if cue == name)


def _either(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# All patterns run on folded text (lower case, no accents), so they are written that way.
_ALTERNATIVE = _either(
    _en("alternative"),
    r"\b(alternativ(e|en|a|as)|ersatz (fur|zu)|statt|anstelle|remplac\w+|au lieu de|reemplaz\w+|sustitut\w+|"
    r"en (lugar|vez) de)\b",
)
# Changing tools: intent to move even when the sentence does not ask anything.
_CHANGE = re.compile(
    r"\b(switch\w* (from|away|to)|migrat\w+ (from|off|to)|mov(e|ing) (away )?from|ditch\w*|"
    r"(wechseln|umsteigen|umstieg) (von|weg)|weg von|quitter|changer de|passer de|cambiar(me)? de|dejar de usar)\b"
)
_RECOMMENDATION = _either(
    _en("recommendation"),
    r"\bis there (a|an|any)( \w+){1,3} (that|which|with|for)\b",
    r"\b(empfehl\w*|empfiehl\w*|kennt (jemand|ihr)|was nutzt ihr|welche[sn]? (tool|app|software|crm)|"
    r"recommand\w*|conseill\w*|quelqu'?un (connait|utilise|a teste)|vous utilisez quoi|quel (outil|logiciel)|"
    r"recomend\w*|recomiend\w*|sugerenci\w*|alguien (conoce|usa|sabe)|que (usais|usan)|cual (herramienta|app))\b",
)
# "I'd recommend X" gives advice; it is not a request unless the sentence asks.
_GIVING_ADVICE = re.compile(
    r"\b(i|we)('d| would| highly| strongly| really| can| always| definitely)* (recommend|suggest)"
)
_REQUEST = re.compile(
    r"\b(looking for|need(ing)? (a|an|some)|want(ing)? (a|an|to find)|any(one|body)|some(one|body)|help me|"
    r"suche|brauche|gesucht|je cherche|on cherche|besoin d|busco|buscando|necesito|necesitamos)\b"
)
_NEED = re.compile(
    r"\b(need(ing)? (a|an|some) (new |better |good |cheaper )?\w+|looking to (buy|switch|get)|want to get|"
    r"(brauche|brauchen) (ein|eine|einen)|besoin d'?(un|une)|necesit(o|amos) (un|una))\b"
)
_COMPLAINT = _either(
    _en("complaint"),
    r"\b(nervig|nervt|furchtbar|schrecklich|katastroph\w*|kaputt|enttausch\w*|argerlich|frustrier\w*|"
    r"unverschamt|mies|funktioniert (nicht|nie)|kundig\w*|nul(le)?|horrible|deplorable|decu\w*|decevant|"
    r"(en )?(ai|a) marre|penible|inadmissible|inacceptable|arnaque|lamentable|ne (marche|fonctionne) (pas|plus)|"
    r"pesim\w*|fatal|hart[oa]s?|decepcion\w*|inaceptable|estafa|desastre|no funciona)\b",
)
# Openings of a question written without its question mark.
_INTERROGATIVE = re.compile(
    r"^\W*(how (do|does|can|to|much|many|would)|can (i|you|it|we|anyone)|could (i|you|it)|does|do (you|i|we)|"
    r"is (there|it|this)|are there|what('s| is| are| do| does| would| should)|which|where (do|can|is)|"
    r"why (is|does|do|would|can't|cant)|should (i|we)|has anyone|have you|"
    r"wie (kann|geht|mache|macht|viel|funktioniert)|gibt es|kann (man|ich)|weiss jemand|was kostet|warum|"
    r"comment|est-ce que|y a-t-il|peut-on|combien|pourquoi|"
    r"como (puedo|se|hago|funciona)|se puede|cuanto|por que|donde)\b"
)
_PRICE = _either(
    _en("price"), r"\b(preis\w*|kostet|teuer\w*|abo|prix|coute\w*|cher|abonnement|precio\w*|cuesta|car[oa]s?)\b"
)
# A link's query string is no question mark ("youtu.be/x?a"); some recorded tweets have a space after "://".
_URL = re.compile(r"(?:https?://|www\.)\s?\S+", re.I)
_ALNUM = re.compile(r"[^\W_]")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[!?])(?=[A-ZÀ-Þ¿¡])|\n+")


def fold(text: str) -> tuple[str, list[int] | None]:
    """Lower case without accents, with each folded character's position in `text` (for quoting it back); the
    positions are None when they are the identity (ASCII text, the common case, folds in one C call)."""
    if text.isascii():
        return text.lower(), None
    out: list[str] = []
    where: list[int] = []
    for position, char in enumerate(text):
        for part in unicodedata.normalize("NFKD", char.casefold()):
            if not unicodedata.combining(part):
                out.append(part)
                where.append(position)
    return "".join(out), where


def sentences(text: str) -> list[str]:
    """The text's sentences, whitespace-flattened; a "?" or "!" ends one even without a space after it."""
    found = (" ".join(part.split()) for part in _SENTENCE_END.split(text))
    return [s for s in found if _ALNUM.search(s)]


def _cue(kind: str, pattern: re.Pattern[str], sentence: str, folded: str, where: list[int] | None) -> Cue | None:
    match = pattern.search(folded)
    if match is None or match.end() == match.start():
        return None
    start, end = (match.start(), match.end()) if where is None else (where[match.start()], where[match.end() - 1] + 1)
    return Cue(kind, sentence[start:end].strip(), sentence)


def _is_question(sentence: str, folded: str) -> bool:
    return "?" in _URL.sub(" ", sentence) or "¿" in sentence or _INTERROGATIVE.search(folded) is not None


def cues(text: str) -> list[Cue]:
    """Every intent cue, sentence by sentence; in each sentence the stronger kinds come first.

    Kinds: "alternative" (asks for one or is changing tools), "recommendation" (asks for one), "need" (says what
    they need), "complaint", "question" (a question sentence), "price" (price words in a question)."""
    found: list[Cue] = []
    for sentence in sentences(text):
        folded, where = fold(sentence)
        question = _is_question(sentence, folded)
        asking = question or _REQUEST.search(folded) is not None
        alternative = _cue("alternative", _ALTERNATIVE, sentence, folded, where)
        if alternative and (asking or _CHANGE.search(folded)):
            found.append(alternative)
        recommendation = _cue("recommendation", _RECOMMENDATION, sentence, folded, where)
        if recommendation and (question or not _GIVING_ADVICE.search(folded)):
            found.append(recommendation)
        for kind, pattern in (("need", _NEED), ("complaint", _COMPLAINT)):
            cue = _cue(kind, pattern, sentence, folded, where)
            if cue:
                found.append(cue)
        if question:
            price = _cue("price", _PRICE, sentence, folded, where)
            found.append(price or Cue("question", sentence, sentence))
    return found


def _competitor_pattern(name: str) -> re.Pattern[str]:
    folded = r"\s+".join(re.escape(word) for word in fold(name)[0].split())
    # As a word, or opening a handle: "@sprintcare" names Sprint.
    return re.compile(rf"(?<!\w)(?:@\s?{folded}\w*|{folded}(?!\w))")


def named_competitors(text: str, competitors: Iterable[str]) -> list[str]:
    """The competitors the text names, in the order it names them, spelt as the watch spells them."""
    folded, _ = fold(text)
    hits: list[tuple[int, str]] = []
    for name in dict.fromkeys(c.strip() for c in competitors if c and c.strip()):
        match = _competitor_pattern(name).search(folded)
        if match:
            hits.append((match.start(), name))
    return [name for _, name in sorted(hits)]


# Score reasons that carry competitor names (scoring.baseline and scoring.warm_lead phrase them this way).
_COMPETITOR_REASONS = ("mentions competitor ", "complains about ", f"{CUE_REASONS['alternative']} to ")


def competitors_in_reasons(reasons: Iterable[str]) -> list[str]:
    names: list[str] = []
    for reason in reasons:
        for prefix in _COMPETITOR_REASONS:
            if reason.startswith(prefix):
                names.extend(n.strip() for n in reason[len(prefix) :].split(",") if n.strip())
    return list(dict.fromkeys(names))


def _quoted(cue: Cue) -> str:
    return f'"{cue.phrase}"'


def _from_text(signals: LeadSignals) -> SituationChoice | None:
    found = cues(signals.text)
    for kind in ("alternative", "recommendation"):
        cue = next((c for c in found if c.kind == kind), None)
        if cue:
            return SituationChoice(Situation.ASKS_FOR_ALTERNATIVE, f"{CUE_REASONS[kind]}: {_quoted(cue)}", cue.sentence)
    known = list(signals.competitors) or competitors_in_reasons(signals.reasons)
    named = named_competitors(signals.text, known) or known[:1]
    if named:
        complaints = [c for c in found if c.kind == "complaint"]
        about = [c for c in complaints if named_competitors(c.sentence, named)]
        if complaints:
            cue = (about or complaints)[0]
            return SituationChoice(
                Situation.COMPETITOR_COMPLAINT, f"complains about {named[0]}: {_quoted(cue)}", cue.sentence
            )
        if signals.sentiment is not None and signals.sentiment <= NEGATIVE_TONE:
            sentence = next((s for s in sentences(signals.text) if named_competitors(s, named)), "")
            return SituationChoice(Situation.COMPETITOR_COMPLAINT, f"negative tone about {named[0]}", sentence)
    # "Need a coffee, the CRM crashed again" is a complaint first; a bare need is an implicit request.
    need = next((c for c in found if c.kind == "need"), None)
    if need:
        return SituationChoice(Situation.ASKS_FOR_ALTERNATIVE, f"says what they need: {_quoted(need)}", need.sentence)
    question = next((c for c in found if c.kind in ("price", "question")), None)
    if question:
        label = CUE_REASONS["price"] if question.kind == "price" else "asks a question"
        return SituationChoice(Situation.PRODUCT_QUESTION, f"{label}: {_quoted(question)}", question.sentence)
    return None


def _from_reasons(signals: LeadSignals) -> SituationChoice | None:
    """For a lead whose mention text is gone (erased, or never stored): its score reasons decide."""
    has_competitor = bool(signals.competitors) or bool(competitors_in_reasons(signals.reasons))
    rules = (
        (Situation.ASKS_FOR_ALTERNATIVE, (CUE_REASONS["alternative"], CUE_REASONS["recommendation"]), False),
        (Situation.COMPETITOR_COMPLAINT, ("complains about ", CUE_REASONS["complaint"], "negative tone"), True),
        (Situation.PRODUCT_QUESTION, (CUE_REASONS["question"], CUE_REASONS["price"]), False),
    )
    for situation, prefixes, needs_competitor in rules:
        if needs_competitor and not has_competitor:
            continue
        reason = next((r for r in signals.reasons if r.startswith(prefixes)), None)
        if reason:
            return SituationChoice(situation, f'score reason "{reason}"')
    return None


def _influencer(signals: LeadSignals) -> SituationChoice | None:
    if signals.authentic is False:
        return None
    tier = f" ({signals.influencer_tier} tier)" if signals.influencer_tier else ""
    if signals.influencer_score is not None:
        if signals.influencer_score >= INFLUENCER_MIN_SCORE:
            return SituationChoice(
                Situation.CANDIDATE_INFLUENCER, f"influencer score {signals.influencer_score:g}{tier}"
            )
        return None
    if signals.influencer_tier in INFLUENCER_TIERS:
        return SituationChoice(Situation.CANDIDATE_INFLUENCER, f"influencer{tier}")
    return None


def choose_situation(signals: LeadSignals, context: SituationContext | None = None) -> SituationChoice:
    """The situation of the message, by precedence.

    1. The caller's purpose: follow-up 2, follow-up 1, after a support case.
    2. What the person wrote: asks for an alternative or recommendation; complains about a competitor (a
       complaint cue or a clearly negative tone, with a competitor named); says what they need (an implicit
       request for a recommendation); asks a question.
       Score reasons stand in for the text only when there is no text.
    3. Who they are: a candidate influencer (score, else tier; never an account flagged as inauthentic).
    4. The caller's trigger: a new follower.
    Otherwise no situation fits (situation None), and the general first message applies.
    """
    context = context or SituationContext()
    if context.follow_up:
        situation = Situation.FOLLOW_UP_2 if context.follow_up == 2 else Situation.FOLLOW_UP_1
        return SituationChoice(situation, f"follow-up {context.follow_up} of the sequence")
    if context.after_support_case:
        return SituationChoice(Situation.AFTER_SUPPORT_CASE, "follows a support case")
    said = _from_text(signals) if signals.text.strip() else _from_reasons(signals)
    if said:
        return said
    influencer = _influencer(signals)
    if influencer:
        return influencer
    if context.new_follower:
        return SituationChoice(Situation.NEW_FOLLOWER, "started following us")
    return SituationChoice(None, "no cue for a situation in the mention, its score reasons or the context")
