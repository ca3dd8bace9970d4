"""Every built-in template, every variant, against generated leads and senders with missing fields: no unfilled
placeholder, no double spaces, no dangling punctuation, no DID, and never "Warmline" unless the user's product (or
company) is called so. With the fields a rep usually has, each reads like a good first message: under the
platform's sweet spot, a question that invites a reply, no link or price."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.compose.drafting import BUILTIN_TEMPLATES, builtin_variants
from outreach.compose.lint import lint_draft
from outreach.compose.personalise import LeadFacts, Person, personalise
from outreach.compose.situations import LeadSignals, SituationContext
from outreach.compose.writer import (
    DraftRequest,
    Sender,
    compose_builtin,
    lint_kind,
    render_builtin,
    sign_off,
    template_fields,
)

EVERY_VARIANT = [(name, variant) for name in BUILTIN_TEMPLATES for variant in builtin_variants(name)]

words = st.text(st.characters(whitelist_categories=("Ll", "Lu"), max_codepoint=0x24F), min_size=1, max_size=12)
phrases = st.lists(words, min_size=1, max_size=6).map(" ".join)
maybe = st.one_of(st.just(""), st.just("   "), phrases)
dids = st.from_regex(r"did:(plc|web):[a-z0-9]{8,24}", fullmatch=True)
handles = st.one_of(dids, st.from_regex(r"@?[a-z][a-z0-9_]{1,14}(\.bsky\.social|@mastodon\.social)?", fullmatch=True))
names = st.one_of(st.just(""), dids, handles, st.sampled_from(["Dana Smith", "Zoë", "Dr. Amara Okafor"]), phrases)
# The person's own words, without braces or DIDs, so any found in a draft are the template's.
posts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), max_size=300).filter(
    lambda t: "did:" not in t.casefold() and "warmline" not in t.casefold()
)
facts = st.builds(
    LeadFacts,
    person=st.builds(Person, names, st.lists(handles, max_size=2).map(tuple), st.lists(names, max_size=2).map(tuple)),
    mention_text=posts,
    competitors=st.lists(st.one_of(words, st.just("")), max_size=2),
    recent_posts=st.lists(posts, max_size=2),
    followers=st.one_of(st.none(), st.integers(-5, 5_000_000)),
    audience_topics=st.lists(words, max_size=3),
    offer=maybe,
)
senders = st.builds(
    Sender,
    product=st.one_of(maybe, st.just("Warmline")),
    company=maybe,
    value_proposition=maybe,
    rep_name=st.one_of(st.just(""), names),
    signature=st.one_of(st.just(""), phrases),
)
platforms = st.sampled_from(["x", "bluesky", "mastodon", "reddit", "hackernews", "file", "rss", "email", "lemmy"])

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\[\s*(first |last )?name\s*\]|%[A-Z_]{2,}%", re.I)
DID = re.compile(r"\bdid:[a-z0-9]+:", re.I)
DANGLING = re.compile(r" [,.;:!?)]|[,;:] *[,.;:!?)]|\(\s*\)|\"\s*\"|\(\"\"\)")


def check(body: str, sender: Sender) -> None:
    assert body.strip(), "a draft is never empty"
    assert not PLACEHOLDER.search(body), body
    assert not DID.search(body), body
    assert "  " not in body, body
    assert not DANGLING.search(body), body
    assert not re.search(r"[,;:(]$", body), body
    assert all(line == line.strip() for line in body.splitlines()), body
    assert not re.match(r"^[,.;:!?]", body), body
    if "Warmline" not in (sender.product, sender.company) and "warmline" not in sender.signature.casefold():
        assert "warmline" not in body.casefold(), body


@settings(max_examples=150, deadline=None)
@given(facts, senders, platforms)
def test_every_built_in_template_and_variant_reads_clean_whatever_the_lead_lacks(
    lead: LeadFacts, sender: Sender, platform: str
) -> None:
    values = template_fields(personalise(lead), sender, platform, lead.mention_text)
    values["signature"] = sign_off(sender)
    for name, variant in EVERY_VARIANT:
        check(render_builtin(name, variant, values), sender)


@settings(max_examples=100, deadline=None)
@given(facts, senders, platforms, st.integers(0, 2), st.booleans(), st.booleans(), st.integers(0, 2**32))
def test_the_whole_pipeline_reads_clean_for_any_lead_and_situation(
    lead: LeadFacts,
    sender: Sender,
    platform: str,
    follow_up: int,
    support: bool,
    follower: bool,
    seed: int,
) -> None:
    purpose = SituationContext(follow_up=follow_up, after_support_case=support, new_follower=follower)
    request = DraftRequest(lead, LeadSignals(text=lead.mention_text), platform, sender, purpose)
    draft = compose_builtin(request, random.Random(seed))
    check(draft.body, sender)
    assert draft.situation in BUILTIN_TEMPLATES


def test_warmline_never_appears_when_the_product_is_called_something_else() -> None:
    lead = LeadFacts(
        person=Person("Dana Smith"),
        mention_text="Looking for an alternative to Salesforce",
        competitors=["Salesforce"],
        offer="our migration checklist",
    )
    for sender in (Sender(), Sender(product="Acme CRM", company="Acme Ltd"), Sender(company="Northwind")):
        values = template_fields(personalise(lead), sender, "bluesky", lead.mention_text)
        for name, variant in EVERY_VARIANT:
            body = render_builtin(name, variant, values)
            assert "Warmline" not in body
            if sender.product:
                assert "Warmline" not in body.replace(sender.product, "")


# What a rep usually has: a named person, the point they raised, a competitor, their content, our offer.
FULL = LeadFacts(
    person=Person("Dana Smith", ("dana",)),
    mention_text="Any recommendations for a simple CRM? Salesforce is way too much for our 4 person agency",
    competitors=["Salesforce"],
    recent_posts=("My take on running a small agency's sales pipeline without the admin",),
    followers=12_400,
    audience_topics=("sales", "agencies"),
    offer="our migration checklist",
)
SENDERS = [Sender(), Sender(product="Acme CRM", company="Acme Ltd", value_proposition="a CRM for small teams")]


@pytest.mark.parametrize(("name", "variant"), EVERY_VARIANT)
@pytest.mark.parametrize("sender", SENDERS, ids=["no profile", "profile"])
@pytest.mark.parametrize("platform", ["bluesky", "mastodon", "x"])
def test_each_template_reads_like_a_good_first_message(name: str, variant: str, sender: Sender, platform: str) -> None:
    person = personalise(FULL)
    body = render_builtin(name, variant, template_fields(person, sender, platform, FULL.mention_text))
    findings = lint_draft(body, platform=platform, kind=lint_kind(name), facts=person.facts(), language="en")
    codes = {f.code for f in findings if f.severity != "info"}
    assert not codes, (codes, body)
    assert "?" in body
    assert not re.search(r"[.!?][A-Z]", body), body  # sentences never run together across template lines
    assert "http" not in body and "$" not in body and "€" not in body
