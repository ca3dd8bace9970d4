"""Properties of the general built-in first message over generated leads with missing, odd or machine-made fields:
it never greets a DID or a raw handle when a name exists, and it reads as written by a person (no template
leftovers, no double spaces, no space before punctuation, no empty quote). Every situation's template is covered
the same way in test_builtin_templates.py."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.compose.drafting import MAX_DM_CHARS, PLATFORM_LABELS, DraftContext, builtin_variants
from outreach.compose.personalise import LeadFacts, Person, personalise
from outreach.compose.writer import Sender, render_builtin, template_fields


def drafts(context: DraftContext) -> list[str]:
    """Every variant of the general template, written for the context."""
    person = personalise(
        LeadFacts(
            person=Person(context.name, context.handles, context.other_names),
            mention_text=context.mention_text,
            competitors=[context.competitor] if context.competitor else [],
        )
    )
    values = template_fields(person, Sender(context.product, context.company), context.platform, context.mention_text)
    return [render_builtin("general", variant, values) for variant in builtin_variants("general")]


REAL_NAMES = ["Dana Smith", "Ana", "Jean-Luc Picard", "Siobhán O'Brien", "Zoë", "李 雷", "Dr. Amara Okafor"]
dids = st.from_regex(r"did:(plc|web):[a-z0-9]{8,24}", fullmatch=True)
handles = st.one_of(
    dids,
    st.from_regex(r"@?[a-z][a-z0-9_]{1,14}(\.bsky\.social|@mastodon\.social)?", fullmatch=True),
)
machine_names = st.one_of(st.just(""), st.just("   "), dids, handles)
odd_names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
names = st.one_of(machine_names, st.sampled_from(REAL_NAMES), odd_names)
words = st.text(st.characters(whitelist_categories=("Ll", "Lu"), max_codepoint=0x24F), min_size=1, max_size=12)
# The quote is the person's own words: braces and "did:" are left out so that any found in the draft are ours.
mention_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), max_size=300).filter(
    lambda t: "did:" not in t.casefold()
)
contexts = st.builds(
    DraftContext,
    name=names,
    platform=st.sampled_from([*PLATFORM_LABELS, "lemmy"]),
    mention_text=mention_texts,
    competitor=st.one_of(st.none(), st.just(""), st.just("  "), words),
    product=st.one_of(st.just(""), words, st.builds(lambda a, b: f"{a} {b}", words, words)),
    company=st.one_of(st.just(""), words),
    handles=st.lists(handles, max_size=3).map(tuple),
    other_names=st.lists(names, max_size=2).map(tuple),
)


@settings(max_examples=400, deadline=None)
@given(contexts)
def test_a_built_in_draft_reads_as_written_by_a_person_whatever_the_lead_lacks(context: DraftContext) -> None:
    for body in drafts(context):
        check_reads_as_written(context, body)


def check_reads_as_written(context: DraftContext, body: str) -> None:

    assert "did:" not in body.casefold()
    assert "{{" not in body and "{%" not in body and "}}" not in body
    assert "  " not in body
    assert not re.search(r" [,.;:!?)]", body), body
    assert "()" not in body and '("")' not in body
    assert not re.search(r"[,;:] *[,.;:!?]", body), body
    assert all(line == line.strip() for line in body.splitlines())
    assert "Warmline" not in body or "Warmline" in (context.product, context.company)
    assert len(body) <= MAX_DM_CHARS.get(context.platform, 10_000)


@settings(max_examples=300, deadline=None)
@given(contexts)
def test_the_greeting_is_one_word_that_is_never_a_did_or_a_handle_with_its_domain(context: DraftContext) -> None:
    for body in drafts(context):
        check_greeting(context, body)


def check_greeting(context: DraftContext, body: str) -> None:
    greeting = re.match(r"Hi ([^,]+),", body)
    assert greeting, "every draft opens with a greeting"
    word = greeting.group(1)
    assert " " not in word and "@" not in word and ":" not in word and "/" not in word
    assert not any(ch.isdigit() for ch in word)
    assert word not in context.handles or re.fullmatch(r"[^\W\d_]+", word)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REAL_NAMES), st.lists(handles, min_size=1, max_size=3).map(tuple), st.booleans())
def test_a_person_with_a_display_name_is_greeted_by_it_not_by_their_handle(
    display_name: str, their_handles: tuple[str, ...], name_on_the_account_only: bool
) -> None:
    context = DraftContext(
        name=their_handles[0] if name_on_the_account_only else display_name,
        platform="bluesky",
        mention_text="Is there a CRM that doesn't cost a fortune?",
        competitor=None,
        handles=their_handles,
        other_names=(display_name,) if name_on_the_account_only else (),
    )
    expected = display_name.removeprefix("Dr. ").split()[0]
    assert all(body.startswith(f"Hi {expected},") for body in drafts(context))
