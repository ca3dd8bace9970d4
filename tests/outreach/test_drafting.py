"""Writing a draft: the situation read from the lead picks the built-in template, a variant is drawn (or pinned),
the person's fields and the sender's fill it, and the result is tidied and linted; a user's template gets the same
fields and renders sandboxed, bounded by the platform's DM size."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from crm.errors import InvalidInput
from outreach.compose.drafting import BUILTIN_TEMPLATES, MAX_DM_CHARS, builtin_variants, excerpt, first_name, tidy
from outreach.compose.personalise import LeadFacts, Person
from outreach.compose.situations import LeadSignals, SituationContext
from outreach.compose.writer import DraftRequest, Sender, compose_builtin, intro, write_draft

ALTERNATIVE = "Looking for an alternative to Salesforce, the pricing is killing our small team"
ACME = Sender(product="Acme CRM", company="Acme Ltd", value_proposition="a CRM small teams set up in an afternoon")


def request(text: str = ALTERNATIVE, **overrides: object) -> DraftRequest:
    competitors = [c for c in ("Salesforce", "HubSpot") if c in text]
    values: dict[str, object] = {
        "facts": LeadFacts(person=Person("Dana Smith", ("dana",)), mention_text=text, competitors=competitors),
        "signals": LeadSignals(text=text, competitors=competitors),
        "platform": "reddit",
        "sender": ACME,
    }
    values.update(overrides)
    return DraftRequest(**values)  # type: ignore[arg-type]


def rng() -> random.Random:
    return random.Random(7)


def test_a_request_for_an_alternative_gets_the_alternative_template_and_names_the_cue() -> None:
    draft = compose_builtin(request(), rng())
    assert draft.situation == "asks_for_alternative" and draft.template == "asks_for_alternative"
    assert draft.cue == 'asks for an alternative: "alternative"'
    assert draft.cue_sentence.startswith("Looking for an alternative to Salesforce")
    assert draft.variant in builtin_variants("asks_for_alternative")
    assert draft.body.startswith("Hi Dana,")
    assert "looking for an alternative to Salesforce" in draft.body


@pytest.mark.parametrize(
    ("text", "purpose", "situation"),
    [
        ("HubSpot support is terrible. Three days and no answer.", None, "competitor_complaint"),
        ("How do you export contacts from a CRM into a spreadsheet?", None, "product_question"),
        ("We moved our office to Lisbon this spring", None, "general"),
        ("We moved our office to Lisbon this spring", SituationContext(new_follower=True), "new_follower"),
        (ALTERNATIVE, SituationContext(follow_up=1), "follow_up_1"),
        (ALTERNATIVE, SituationContext(follow_up=2), "follow_up_2"),
        (ALTERNATIVE, SituationContext(after_support_case=True), "after_support_case"),
    ],
)
def test_each_situation_picks_its_own_template(text: str, purpose: SituationContext | None, situation: str) -> None:
    draft = compose_builtin(request(text, purpose=purpose), rng())
    assert draft.situation == situation
    assert draft.template == situation


def test_an_influencer_gets_a_collaboration_pitch_that_shows_we_read_their_content() -> None:
    facts = LeadFacts(
        person=Person("Priya Raman", ("priya",)),
        recent_posts=("New video: how I run my whole sales pipeline in a spreadsheet",),
        followers=48_200,
        audience_topics=("sales", "pipelines"),
    )
    draft = compose_builtin(
        request("", facts=facts, signals=LeadSignals(influencer_score=82, influencer_tier="mid")), rng()
    )
    assert draft.situation == "candidate_influencer"
    assert draft.cue == "influencer score 82 (mid tier)"
    assert "how I run my whole sales pipeline in a spreadsheet" in draft.body
    assert "48.2k followers" in draft.body
    assert "collaboration" in draft.body


def test_a_pinned_variant_is_always_the_one_written() -> None:
    for seed in range(20):
        assert compose_builtin(request(pinned_variant="b"), random.Random(seed)).variant == "b"


def test_with_no_counts_every_variant_is_drawn_from_the_same_prior() -> None:
    drawn = Counter(compose_builtin(request(), random.Random(seed)).variant for seed in range(400))
    assert set(drawn) == set(builtin_variants("asks_for_alternative"))
    assert min(drawn.values()) > 400 / len(drawn) * 0.75


def test_every_situation_template_has_at_least_two_variants() -> None:
    for name in BUILTIN_TEMPLATES:
        assert len(builtin_variants(name)) >= 2, name


def test_the_draft_comes_with_its_lint_findings_and_the_facts_it_could_use() -> None:
    draft = compose_builtin(request(platform="mastodon"), rng())
    assert draft.facts["their name"] == "Dana"
    assert "Salesforce" in draft.facts["the competitor"]
    assert not [f for f in draft.findings if f.severity == "block"]
    again = compose_builtin(request(platform="mastodon", recent_drafts=[draft.body]), rng())
    assert "near_duplicate" in {f.code for f in again.findings}


def test_the_sender_profile_says_who_is_writing_and_nothing_claims_a_product_without_one() -> None:
    assert intro(ACME) == "I work on Acme CRM at Acme Ltd, a CRM small teams set up in an afternoon"
    assert intro(Sender(company="Acme Ltd")) == "I work at Acme Ltd"
    assert intro(Sender()) == ""
    for variant in builtin_variants("asks_for_alternative"):
        named = compose_builtin(request(pinned_variant=variant), rng()).body
        unnamed = compose_builtin(request(pinned_variant=variant, sender=Sender()), rng()).body
        assert "Acme CRM" in named
        assert "I work" not in unnamed and "Warmline" not in unnamed and "our product" not in unnamed


def test_the_reps_signature_ends_the_draft_else_their_name() -> None:
    signed = compose_builtin(request(sender=Sender(rep_name="Sam Lee", signature="Sam, Acme support")), rng())
    assert signed.body.endswith("\n\nSam, Acme support")
    named = compose_builtin(request(sender=Sender(rep_name="Sam Lee")), rng())
    assert named.body.endswith("\n\nSam Lee")


async def test_a_custom_template_gets_the_same_fields() -> None:
    draft = await write_draft(
        request(template="{{ name }} / {{ platform_label }} / {{ competitor }} / {{ product }} / {{ company }}"),
        rng(),
    )
    assert draft.body == "Dana / Reddit / Salesforce / Acme CRM / Acme Ltd"
    assert draft.template == "custom" and draft.variant is None
    assert draft.situation == "asks_for_alternative"


async def test_a_custom_template_reads_the_point_and_the_intro() -> None:
    draft = await write_draft(request(template="{{ intro }}. You said: {{ point }}"), rng())
    assert draft.body == (
        "I work on Acme CRM at Acme Ltd, a CRM small teams set up in an afternoon. "
        "You said: looking for an alternative to Salesforce, the pricing is killing our small team"
    )


async def test_a_template_with_an_unknown_field_is_refused_rather_than_sent_with_a_blank() -> None:
    with pytest.raises(InvalidInput, match="template error"):
        await write_draft(request(template="Hi {{ first_name }}"), rng())


async def test_a_template_with_broken_syntax_is_refused_naming_the_line() -> None:
    with pytest.raises(InvalidInput, match="template error: line 2:"):
        await write_draft(request(template="Hi\n{{ name "), rng())


async def test_a_template_cannot_reach_python_internals() -> None:
    with pytest.raises(InvalidInput, match="template error"):
        await write_draft(request(template="{{ name.__class__.__mro__[1].__subclasses__() }}"), rng())


async def test_a_template_that_renders_nothing_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty message"):
        await write_draft(request(template="{% if false %}x{% endif %}"), rng())


async def test_a_draft_longer_than_the_platform_allows_is_refused_with_the_limit() -> None:
    limit = MAX_DM_CHARS["mastodon"]
    with pytest.raises(InvalidInput, match=f"at most {limit}"):
        await write_draft(request(platform="mastodon", template="{{ name }}" + "x" * limit), rng())


async def test_x_allows_the_full_ten_thousand_characters() -> None:
    draft = await write_draft(request(platform="x", template="x" * 10_000), rng())
    assert len(draft.body) == 10_000
    with pytest.raises(InvalidInput):
        await write_draft(request(platform="x", template="x" * 10_001), rng())


def test_a_display_name_that_is_the_persons_handle_is_not_taken_for_a_name() -> None:
    assert first_name("maria_dev", ("maria_dev",)) is None
    assert first_name("Maria Ortiz", ("maria_dev",)) == "Maria"


def test_tidying_removes_double_spaces_space_before_punctuation_and_empty_quotes() -> None:
    assert tidy('Hi  there , I saw your post ("") .\n\n\n\nBye') == "Hi there, I saw your post.\n\nBye"


def test_long_posts_are_quoted_as_a_short_excerpt_cut_at_a_word() -> None:
    text = "word " * 100
    quoted = excerpt(text, limit=30)
    assert len(quoted) <= 30
    assert quoted.endswith("…")
    assert not quoted[:-1].endswith(" ")
