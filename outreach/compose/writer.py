"""Write a draft from what we know: the situation, the template and its variant, the fields, the tidy text, the lint.

The steps, all pure (the caller, `outreach.drafts`, reads the database and stores the result):

1. `choose_situation` reads the lead's mention, score reasons and influencer score (and the caller's purpose:
   a follow-up, after a support case, a new follower); no situation fitting means the general template.
2. The variant of that built-in template is drawn by Thompson sampling over its reply counts
   (`choose_variant`); the counts are not stored yet, so every variant has the prior, Beta(1, 1), and the draw is
   uniform until a later step records sends and replies. A rep may pin a variant.
3. `personalise` fills the person's fields; the sender's (`Sender`) say who is writing. With no product or
   company known the draft makes no product claim at all: `intro` is empty and the templates fall back to
   offering help.
4. The text is rendered (a user's template sandboxed, with the same fields), tidied and linted for the platform,
   with the person's facts and the rep's other drafts of today.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from crm.errors import InvalidInput
from outreach.compose.drafting import (
    GENERAL,
    PLATFORM_LABELS,
    builtin_variants,
    excerpt,
    render_user_template,
    render_variant,
)
from outreach.compose.lint import DEFAULT_LIMITS, Finding, LintLimits, lint_draft
from outreach.compose.personalise import LeadFacts, Personalisation, offer_clause, personalise
from outreach.compose.situations import LeadSignals, Situation, SituationContext, choose_situation
from outreach.compose.tidy import tidy
from outreach.compose.variants import VariantStats, choose_variant

CUSTOM = "custom"
FOLLOW_UPS = frozenset({Situation.FOLLOW_UP_1, Situation.FOLLOW_UP_2})


@dataclass(frozen=True, slots=True)
class Sender:
    """Who is writing: the workspace's profile and the rep's own name and signature; every field optional."""

    product: str = ""
    company: str = ""
    value_proposition: str = ""
    rep_name: str = ""
    signature: str = ""


@dataclass(frozen=True, slots=True)
class DraftRequest:
    facts: LeadFacts
    signals: LeadSignals
    platform: str
    sender: Sender = Sender()
    purpose: SituationContext | None = None
    template: str | None = None  # a user's template; None: the built-in one for the situation
    pinned_variant: str | None = None
    recent_drafts: Sequence[str] = ()  # the rep's other drafts of today, for "reads like a template"
    limits: LintLimits = DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class Draft:
    body: str
    situation: str  # a Situation value, or "general"
    cue: str  # why that situation, in plain words
    cue_sentence: str
    template: str  # the built-in template's name, or "custom"
    variant: str | None  # None for a user's template
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)


def intro(sender: Sender) -> str:
    """ "I work on Acme CRM at Acme, a CRM small teams set up in an afternoon" from what the profile says, or ""
    when it names neither product nor company (then no draft claims one)."""
    product = " ".join(sender.product.split())
    company = " ".join(sender.company.split())
    value = offer_clause(sender.value_proposition)
    if product:
        return f"I work on {product}" + (f" at {company}" if company else "") + (f", {value}" if value else "")
    if value:
        return f"I work on {value}" + (f" at {company}" if company else "")
    return f"I work at {company}" if company else ""


def sign_off(sender: Sender) -> str:
    """The rep's signature, else their display name, else nothing."""
    return tidy(sender.signature) or " ".join(sender.rep_name.split())


def template_fields(person: Personalisation, sender: Sender, platform: str, mention_text: str) -> dict[str, Any]:
    """Every field a template gets, built-in or a user's (the names are documented on DraftCreate)."""
    return {
        **person.fields(),
        "platform_label": PLATFORM_LABELS.get(platform, platform),
        "mention_excerpt": excerpt(mention_text),
        "product": " ".join(sender.product.split()),
        "company": " ".join(sender.company.split()),
        "value_proposition": offer_clause(sender.value_proposition),
        "intro": intro(sender),
        "rep_name": " ".join(sender.rep_name.split()),
        "signature": tidy(sender.signature),
    }


def lint_kind(situation: str) -> str:
    return "follow_up" if situation in FOLLOW_UPS else "first_dm"


def template_for(situation: Situation | None) -> str:
    return situation.value if situation is not None else GENERAL


def pick_variant(
    template: str, rng: random.Random, pinned: str | None = None, stats: Mapping[str, VariantStats] | None = None
) -> str:
    """The variant to send; with no counts given every variant has the prior (no sends, no replies)."""
    known = stats or {}
    variants = builtin_variants(template)
    if pinned is not None and pinned not in variants:
        raise InvalidInput(f"the {template} template has variants {', '.join(variants)}, not {pinned!r}")
    return choose_variant({v: known.get(v, VariantStats()) for v in variants}, rng, pinned)


def render_builtin(template: str, variant: str, values: Mapping[str, Any]) -> str:
    """A built-in template's variant, tidied, with the rep's sign-off on a line of its own."""
    body = tidy(render_variant(template, variant, dict(values)))
    signature = values.get("signature") or ""
    return tidy(f"{body}\n\n{signature}") if signature else body


@dataclass(frozen=True, slots=True)
class _Prepared:
    situation: str
    cue: str
    sentence: str
    person: Personalisation
    values: dict[str, Any]


def _prepare(request: DraftRequest) -> _Prepared:
    choice = choose_situation(request.signals, request.purpose)
    facts = request.facts
    keep = (*facts.keep_capitals, request.sender.product, request.sender.company)
    person = personalise(replace(facts, keep_capitals=tuple(k for k in keep if k.strip())))
    values = template_fields(person, request.sender, request.platform, facts.mention_text)
    values["signature"] = sign_off(request.sender)
    return _Prepared(template_for(choice.situation), choice.cue, choice.sentence, person, values)


def _linted(request: DraftRequest, prepared: _Prepared, body: str, template: str, variant: str | None) -> Draft:
    facts = prepared.person.facts()
    findings = lint_draft(
        body,
        platform=request.platform,
        kind=lint_kind(prepared.situation),
        facts=facts,
        recent_drafts=request.recent_drafts,
        limits=request.limits,
    )
    return Draft(body, prepared.situation, prepared.cue, prepared.sentence, template, variant, findings, facts)


def compose_builtin(request: DraftRequest, rng: random.Random) -> Draft:
    """The draft from the built-in template for the lead's situation; in process, no I/O."""
    prepared = _prepare(request)
    variant = pick_variant(prepared.situation, rng, request.pinned_variant)
    return _linted(
        request, prepared, render_builtin(prepared.situation, variant, prepared.values), prepared.situation, variant
    )


async def write_draft(request: DraftRequest, rng: random.Random) -> Draft:
    """The draft: the built-in template for the situation, or the request's own template rendered sandboxed."""
    if not request.template:
        return compose_builtin(request, rng)
    prepared = _prepare(request)
    body = tidy(await render_user_template(request.template, prepared.values, request.platform))
    return _linted(request, prepared, body, CUSTOM, None)
