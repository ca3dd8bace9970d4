"""First-DM drafting: personalised from the post, greeting a person by name, bounded by the platform's DM size,
tidy whatever the lead lacks, and the product named by the deployment's settings."""

from __future__ import annotations

import pytest

from crm.errors import InvalidInput
from outreach.compose.drafting import MAX_DM_CHARS, DraftContext, excerpt, first_name, render_first_dm, tidy


def context(**overrides: object) -> DraftContext:
    values: dict[str, object] = {
        "name": "Dana Smith",
        "platform": "reddit",
        "mention_text": "Looking for an alternative to Salesforce, the pricing is killing our small team",
        "competitor": "Salesforce",
        "product": "Acme CRM",
    }
    values.update(overrides)
    return DraftContext(**values)  # type: ignore[arg-type]


async def test_the_default_draft_greets_by_first_name_and_quotes_the_post() -> None:
    body = await render_first_dm(context())
    assert body.startswith("Hi Dana,")
    assert "Reddit post" in body
    assert "alternative to Salesforce" in body


async def test_the_default_draft_names_the_competitor_only_when_the_post_did() -> None:
    assert "If Salesforce isn't working out for you" in await render_first_dm(context())
    other = await render_first_dm(context(competitor=None, mention_text="Which CRM do you use?"))
    assert "Salesforce isn't" not in other


async def test_a_person_without_a_display_name_is_not_greeted_with_an_empty_name() -> None:
    assert (await render_first_dm(context(name="  "))).startswith("Hi there,")


async def test_the_product_and_company_come_from_the_settings_not_a_hard_coded_name() -> None:
    body = await render_first_dm(context(product="Acme CRM", company="Acme Ltd"))
    assert "I work on Acme CRM at Acme Ltd and" in body
    unnamed = await render_first_dm(context(product="", company=""))
    assert "Warmline" not in unnamed and "I work on a tool in this space and" in unnamed


async def test_a_post_from_an_unlabelled_source_leaves_no_double_space() -> None:
    body = await render_first_dm(context(platform="file", mention_text=""))
    assert body.startswith("Hi Dana, I saw your post.")
    assert "  " not in body


@pytest.mark.parametrize(
    ("display_name", "handles", "greeting"),
    [
        ("did:plc:ewvi7nxzyoun6zhxrhs64oiz", ("did:plc:ewvi7nxzyoun6zhxrhs64oiz",), "Hi there,"),
        ("dana.bsky.social", ("dana.bsky.social",), "Hi dana,"),
        ("rocketdev42", ("rocketdev42",), "Hi there,"),
        ("🚀 Dana Smith | founder", ("dana42",), "Hi Dana,"),
        ("Dr. Jane Doe", ("jdoe",), "Hi Jane,"),
        ("The CRM Guy", ("crmguy",), "Hi crmguy,"),
        ("@dana@mastodon.social", ("@dana@mastodon.social",), "Hi dana,"),
    ],
)
async def test_a_draft_greets_by_a_name_never_by_a_did_or_raw_handle(
    display_name: str, handles: tuple[str, ...], greeting: str
) -> None:
    body = await render_first_dm(context(name=display_name, handles=handles, platform="bluesky"))
    assert body.startswith(greeting)


async def test_an_accounts_display_name_is_used_when_the_contact_only_has_the_handle() -> None:
    body = await render_first_dm(context(name="did:plc:abc", handles=("did:plc:abc",), other_names=("Ana Lima",)))
    assert body.startswith("Hi Ana,")


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


async def test_a_custom_template_gets_the_same_fields() -> None:
    body = await render_first_dm(
        context(company="Acme Ltd"),
        "{{ name }} / {{ platform_label }} / {{ competitor }} / {{ product }} / {{ company }}",
    )
    assert body == "Dana / Reddit / Salesforce / Acme CRM / Acme Ltd"


async def test_a_template_with_an_unknown_field_is_refused_rather_than_sent_with_a_blank() -> None:
    with pytest.raises(InvalidInput, match="template error"):
        await render_first_dm(context(), "Hi {{ first_name }}")


async def test_a_template_with_broken_syntax_is_refused_naming_the_line() -> None:
    with pytest.raises(InvalidInput, match="template error: line 2:"):
        await render_first_dm(context(), "Hi\n{{ name ")


async def test_a_template_cannot_reach_python_internals() -> None:
    with pytest.raises(InvalidInput, match="template error"):
        await render_first_dm(context(), "{{ name.__class__.__mro__[1].__subclasses__() }}")


async def test_a_template_that_renders_nothing_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty message"):
        await render_first_dm(context(), "{% if false %}x{% endif %}")


async def test_a_draft_longer_than_the_platform_allows_is_refused_with_the_limit() -> None:
    limit = MAX_DM_CHARS["mastodon"]
    with pytest.raises(InvalidInput, match=f"at most {limit}"):
        await render_first_dm(context(platform="mastodon"), "{{ name }}" + "x" * limit)


async def test_x_allows_the_full_ten_thousand_characters() -> None:
    body = await render_first_dm(context(platform="x"), "x" * 10_000)
    assert len(body) == 10_000
    with pytest.raises(InvalidInput):
        await render_first_dm(context(platform="x"), "x" * 10_001)
