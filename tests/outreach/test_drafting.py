"""First-DM drafting: personalised from the post, bounded by the platform's DM size, templates sandboxed."""

from __future__ import annotations

import pytest

from crm.errors import InvalidInput
from outreach.drafting import MAX_DM_CHARS, DraftContext, excerpt, render_first_dm


def context(**overrides: object) -> DraftContext:
    values: dict[str, object] = {
        "name": "Dana Smith",
        "platform": "reddit",
        "mention_text": "Looking for an alternative to Salesforce, the pricing is killing our small team",
        "competitor": "Salesforce",
    }
    values.update(overrides)
    return DraftContext(**values)  # type: ignore[arg-type]


def test_the_default_draft_greets_by_first_name_and_quotes_the_post() -> None:
    body = render_first_dm(context())
    assert body.startswith("Hi Dana,")
    assert "Reddit post" in body
    assert "alternative to Salesforce" in body


def test_the_default_draft_names_the_competitor_only_when_the_post_did() -> None:
    assert "If Salesforce isn't working out for you" in render_first_dm(context())
    assert "Salesforce isn't" not in render_first_dm(context(competitor=None, mention_text="Which CRM do you use?"))


def test_a_person_without_a_display_name_is_not_greeted_with_an_empty_name() -> None:
    assert render_first_dm(context(name="  ")).startswith("Hi there,")


def test_long_posts_are_quoted_as_a_short_excerpt_cut_at_a_word() -> None:
    text = "word " * 100
    quoted = excerpt(text, limit=30)
    assert len(quoted) <= 30
    assert quoted.endswith("…")
    assert not quoted[:-1].endswith(" ")


def test_a_custom_template_gets_the_same_fields() -> None:
    body = render_first_dm(context(), "{{ name }} / {{ platform_label }} / {{ competitor }} / {{ product }}")
    assert body == "Dana / Reddit / Salesforce / Warmline"


def test_a_template_with_an_unknown_field_is_refused_rather_than_sent_with_a_blank() -> None:
    with pytest.raises(InvalidInput, match="template error"):
        render_first_dm(context(), "Hi {{ first_name }}")


def test_a_template_with_broken_syntax_is_refused() -> None:
    with pytest.raises(InvalidInput, match="template error"):
        render_first_dm(context(), "Hi {{ name ")


def test_a_template_cannot_reach_python_internals() -> None:
    with pytest.raises(InvalidInput, match="template error"):
        render_first_dm(context(), "{{ name.__class__.__mro__[1].__subclasses__() }}")


def test_a_draft_longer_than_the_platform_allows_is_refused_with_the_limit() -> None:
    limit = MAX_DM_CHARS["mastodon"]
    with pytest.raises(InvalidInput, match=f"at most {limit}"):
        render_first_dm(context(platform="mastodon"), "{{ name }}" + "x" * limit)


def test_x_allows_the_full_ten_thousand_characters() -> None:
    body = render_first_dm(context(platform="x"), "x" * 10_000)
    assert len(body) == 10_000
    with pytest.raises(InvalidInput):
        render_first_dm(context(platform="x"), "x" * 10_001)
