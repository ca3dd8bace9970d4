"""The draft linter: each finding fires on a draft that should trip it and never on a good personalised one;
lengths are counted the way each platform counts; blocking findings stop approval and warnings do not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listeners.query import tokenize
from outreach.compose.lint import (
    ADVICE,
    LEXICON_SUGGESTIONS,
    Finding,
    LintLimits,
    blocks,
    fact_is_used,
    grapheme_count,
    lexicon,
    lexicon_languages,
    lint_draft,
    parse_lexicon,
    platform_length,
    reading_ease,
)

GOOD = (
    "Hi Dana, I saw your post about HubSpot getting too expensive for a three-person team. We built a small CRM "
    "for teams like yours that imports HubSpot contacts in a minute. What would you need from a replacement "
    "before you switch?"
)
FACTS = {
    "their name": "Dana Whitfield",
    "the point they raised": "HubSpot is getting too expensive for our three-person team",
    "the competitor": "HubSpot",
}
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man, woman, girl, boy joined by ZWJ
TEMPLATE = (
    "Hi {name}, I saw your post about {point}. We make a small self-hosted CRM that many teams switched to from "
    "{competitor}, and it keeps every conversation in one place. What would you need from a replacement first?"
)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


@pytest.mark.parametrize("platform", ["x", "bluesky", "mastodon", "reddit", "hackernews"])
def test_a_good_personalised_first_dm_has_no_findings_on_any_platform(platform: str) -> None:
    assert (
        lint_draft(
            GOOD,
            platform=platform,
            facts=FACTS,
            recent_drafts=[TEMPLATE.format(name="Sam", point="moving off spreadsheets", competitor="Pipedrive")],
        )
        == []
    )


# (code, draft, keyword arguments): each draft trips its code; GOOD trips none of them (test above).
TRIPS: list[tuple[str, str, dict[str, Any]]] = [
    ("empty", "   \n ", {}),
    ("placeholder", GOOD.replace("Dana", "{{ first_name }}"), {}),
    ("placeholder", GOOD.replace("Dana", "[First name]"), {}),
    ("placeholder", GOOD.replace("Dana", "did:plc:abc123xyz"), {}),
    ("too_long", GOOD + " " + "More detail here. " * 20, {"platform": "mastodon"}),
    ("longer_than_sweet_spot", GOOD + " Also, " + "we can help with that too. " * 15, {}),
    ("shorter_than_sweet_spot", "Hi Dana, what would you need from HubSpot?", {}),
    ("spam_phrase", GOOD.replace("What would", "Click here! What would"), {}),
    ("promotional_phrase", GOOD.replace("a small CRM", "a revolutionary CRM"), {}),
    ("pushy_phrase", GOOD.replace("What would you need", "Can we hop on a call? What would you need"), {}),
    ("stock_opener_phrase", "I hope this message finds you well. " + GOOD, {}),
    ("link_in_first_message", GOOD.replace("in a minute.", "in a minute (https://example.com/import)."), {}),
    ("shortened_link", GOOD.replace("in a minute.", "in a minute: bit.ly/3xYz."), {}),
    ("price_in_first_message", GOOD.replace("in a minute.", "in a minute, from $19 a month."), {}),
    ("shouting", GOOD.replace("small CRM for teams", "SMALL CRM FOR TEAMS LIKE YOURS, REALLY"), {}),
    ("exclamations", GOOD.replace("minute.", "minute!!"), {}),
    (
        "hard_to_read",
        "Notwithstanding considerable organisational heterogeneity, comprehensive customer relationship "
        "management implementations necessitate substantial interdepartmental coordination, Dana, regarding "
        "HubSpot replacement considerations. What would you need?",
        {},
    ),
    ("no_question", GOOD.replace("What would you need from a replacement before you switch?", "Thanks."), {}),
    (
        "not_personal",
        "Hello there, we built a small CRM for small teams that imports contacts in a minute. What would you need "
        "from a new tool before you switch to one?",
        {},
    ),
    (
        "little_personalisation",
        "Hi Dana, we built a small CRM for teams like yours that imports contacts in a minute. What would you need "
        "from a new tool before you switch to one?",
        {},
    ),
    (
        "reads_like_template",
        TEMPLATE.format(name="Dana", point="HubSpot getting too expensive", competitor="HubSpot"),
        {"recent_drafts": [TEMPLATE.format(name="Sam", point="moving off spreadsheets", competitor="Pipedrive")]},
    ),
    (
        "near_duplicate",
        TEMPLATE.format(name="Dana", point="HubSpot getting too expensive", competitor="HubSpot"),
        {"recent_drafts": [TEMPLATE.format(name="Sam", point="HubSpot getting too expensive", competitor="HubSpot")]},
    ),
]


@pytest.mark.parametrize(("code", "draft", "extra"), TRIPS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TRIPS)])
def test_each_finding_fires_on_a_draft_that_should_trip_it_with_its_severity_and_a_suggestion(
    code: str, draft: str, extra: dict[str, Any]
) -> None:
    arguments: dict[str, Any] = {"platform": "bluesky", "facts": FACTS, **extra}
    found = [f for f in lint_draft(draft, **arguments) if f.code == code]
    assert found, f"{code} did not fire: {lint_draft(draft, **arguments)}"
    for item in found:
        assert item.suggestion.strip() and item.message.strip()
        expected = ADVICE[code][0] if code in ADVICE else {"spam_phrase": "block"}.get(code, item.severity)
        assert item.severity == expected
        if item.span is not None:
            assert 0 <= item.span[0] < item.span[1] <= len(draft)


def test_a_lexicon_finding_points_at_the_phrase_it_found() -> None:
    draft = GOOD.replace("a small CRM", "a game-changer CRM")
    [hit] = [f for f in lint_draft(draft, platform="x", facts=FACTS) if f.code == "promotional_phrase"]
    assert hit.span is not None and draft[hit.span[0] : hit.span[1]] == "game-changer"


def test_blocking_findings_stop_approval_and_warnings_do_not() -> None:
    warned = lint_draft(GOOD.replace("a small CRM", "a revolutionary CRM"), platform="x", facts=FACTS)
    assert warned and not blocks(warned)
    blocked = lint_draft(GOOD.replace("Dana", "{{ name }}"), platform="x", facts=FACTS)
    assert blocks(blocked)
    assert blocked[0].severity == "block"  # blocking findings come first
    assert not blocks([])


def test_a_family_emoji_joined_by_zero_width_joiners_is_one_grapheme_and_so_is_a_letter_with_a_combining_mark() -> None:
    assert len(FAMILY) == 7 and grapheme_count(FAMILY) == 1
    assert grapheme_count("e\u0301") == 1 and grapheme_count("Zo\u0308e") == 3
    assert grapheme_count("\U0001f1e9\U0001f1ea") == 1  # a flag is two regional indicators
    assert grapheme_count("a\r\nb") == 3


def test_bluesky_chat_counts_graphemes_so_a_thousand_family_emoji_fit_and_one_more_does_not() -> None:
    at_limit = FAMILY * 1000
    assert len(at_limit) == 7000 and platform_length(at_limit, "bluesky") == 1000
    assert "too_long" not in codes(lint_draft(at_limit, platform="bluesky"))
    assert "too_long" in codes(lint_draft(at_limit + "e\u0301", platform="bluesky"))


def test_mastodon_counts_every_link_as_23_characters_and_a_mention_without_its_domain() -> None:
    link = "https://example.com/" + "a" * 300
    assert platform_length(f"see {link} now", "mastodon") == len("see ") + 23 + len(" now")
    assert platform_length("@dana@mastodon.social hi", "mastodon") == len("@dana hi")
    # Mastodon links only addresses with a scheme: a bare domain counts as written.
    assert platform_length("see example.com", "mastodon") == len("see example.com")
    draft = "Hi Dana, " + "x" * 440 + f" {link} What do you think?"
    assert len(draft) > 500
    assert "too_long" not in codes(lint_draft(draft, platform="mastodon", kind="follow_up"))


def test_x_counts_links_as_23_in_dms_and_weighs_other_scripts_and_emoji_double_in_public_replies() -> None:
    assert platform_length("read https://example.com/" + "b" * 100, "x") == len("read ") + 23
    assert platform_length("example.com/pricing", "x") == 23
    assert platform_length("\u65e5" * 140, "x", "public_reply") == 280
    assert platform_length(FAMILY + " ok", "x", "public_reply") == 5
    assert "too_long" in codes(lint_draft("\u65e5" * 141, platform="x", kind="public_reply"))
    assert "too_long" not in codes(lint_draft("\u65e5" * 141, platform="x"))


def test_limits_are_a_parameter_with_the_platform_defaults() -> None:
    long_draft = GOOD + " " + "We also sync with your calendar, which helps. " * 8
    assert "too_long" in codes(lint_draft(long_draft, platform="mastodon", facts=FACTS))
    roomy = LintLimits(mastodon_max_chars=2_000, dm_max_chars=2_000)
    assert "too_long" not in codes(lint_draft(long_draft, platform="mastodon", facts=FACTS, limits=roomy))
    assert LintLimits().x_dm_max_chars == 10_000 and LintLimits().reddit_max_chars == 10_000
    assert "too_long" not in codes(lint_draft("x" * 20_000, platform="email"))


GERMAN = (
    "Hallo Dana, ich hoffe, es geht Ihnen gut. Unser bahnbrechendes Tool ist der Marktführer. Jetzt kaufen und "
    "sparen! Wann haben Sie Zeit für ein kurzes Telefonat?"
)


@pytest.mark.parametrize("language", ["de", "de-DE", None])
def test_the_german_lexicon_finds_inflected_promotional_words_stock_openers_and_spam(language: str | None) -> None:
    found = lint_draft(GERMAN, platform="mastodon", language=language)
    phrases = {(f.code, GERMAN[f.span[0] : f.span[1]]) for f in found if f.span and f.code.endswith("_phrase")}
    assert ("promotional_phrase", "bahnbrechendes") in phrases
    assert ("promotional_phrase", "Marktführer") in phrases
    assert ("stock_opener_phrase", "ich hoffe, es geht Ihnen gut") in phrases
    assert ("spam_phrase", "Jetzt kaufen") in phrases
    assert ("pushy_phrase", "kurzes Telefonat") in phrases
    assert blocks(found)


def test_a_german_draft_that_invites_a_reply_without_a_question_mark_is_not_told_to_ask_one() -> None:
    draft = "Hallo Dana, dein Beitrag über HubSpot hat mir gefallen. Lass mich wissen, was dir fehlt."
    assert "no_question" not in codes(lint_draft(draft, platform="mastodon", language="de"))
    assert "no_question" in codes(lint_draft(draft.replace("Lass mich wissen", "Ich weiß"), platform="mastodon"))


def test_every_shipped_lexicon_parses_into_spam_promotional_pushy_and_reply_invitations() -> None:
    assert {"en", "de", "fr", "es"} <= set(lexicon_languages())
    for language in lexicon_languages():
        categories = {c.name: c for c in lexicon(language)}
        assert {"spam", "promotional", "pushy", "invites_reply"} <= set(categories), language
        assert categories["spam"].severity == "block" and categories["invites_reply"].severity is None
        assert all(name in LEXICON_SUGGESTIONS for name, c in categories.items() if c.severity), language


def test_a_lexicon_header_with_an_unknown_severity_is_refused_naming_the_line() -> None:
    with pytest.raises(ValueError, match=r"mine\.txt:3: a header is"):
        parse_lexicon("# comment\n\n[pushy loud]\nact now\n", "mine.txt")
    with pytest.raises(ValueError, match=r"mine\.txt:1: phrase 'act now' comes before"):
        parse_lexicon("act now\n", "mine.txt")


def test_french_and_spanish_phrasing_is_found_too() -> None:
    french = lint_draft("Bonjour Dana, cliquez ici pour un essai gratuit. Qu'en pensez-vous ?", platform="x")
    assert {"spam_phrase", "promotional_phrase"} <= codes(french)
    spanish = lint_draft("Hola Dana, todo en orden: nuestra herramienta revolucionaria. ¿Te interesa?", platform="x")
    assert "promotional_phrase" in codes(spanish) and "no_question" not in codes(spanish)
    assert "placeholder" not in codes(spanish)  # "todo" is a Spanish word; TODO in capitals is a note to self
    assert "placeholder" in codes(lint_draft("Hola Dana, TODO: add the point. ¿Te interesa?", platform="x"))


def test_links_and_prices_are_only_flagged_in_a_first_message() -> None:
    draft = GOOD.replace("in a minute.", "in a minute (https://example.com/import, $19 a month).")
    assert {"link_in_first_message", "price_in_first_message"} <= codes(lint_draft(draft, platform="x", facts=FACTS))
    for kind in ("follow_up", "reply"):
        assert not {"link_in_first_message", "price_in_first_message"} & codes(
            lint_draft(draft, platform="x", kind=kind, facts=FACTS)
        )


def test_reading_ease_is_measured_per_language_and_is_none_where_textstat_has_no_formula() -> None:
    plain = "Thanks for the post. I run a small team too. What made you look for a new tool?"
    ease = reading_ease(plain, "en")
    assert ease is not None and ease > 60
    german = reading_ease("Danke für deinen Beitrag. Ich leite auch ein kleines Team. Was suchst du?", "de")
    assert german is not None and german > 50
    assert reading_ease(plain, "ja") is None


def test_a_fact_counts_as_used_when_its_words_are_in_the_draft_whatever_their_case_and_accents() -> None:
    words = set(tokenize("Hi Chloe, your thread about Pipedrive reports being too rigid was spot on."))
    assert fact_is_used("Chloé Martin", words)
    assert fact_is_used("pipedrive", words)
    assert fact_is_used("Pipedrive's reporting is too rigid for weekly reviews", words)
    assert not fact_is_used("Looking for a self-hosted Salesforce alternative", words)


def test_the_message_names_the_facts_the_draft_leaves_out() -> None:
    generic = (
        "Hi there, I saw your post. We built a small CRM that imports contacts in a minute. What would you need "
        "from a replacement before you switch?"
    )
    [finding] = [f for f in lint_draft(generic, platform="x", facts=FACTS) if f.code == "not_personal"]
    assert "their name" in finding.message and "the competitor" in finding.message
    assert "0 of the 3" in finding.message


def test_unrelated_drafts_sent_today_do_not_make_a_draft_read_like_a_template() -> None:
    others = [
        "Sam, thanks for the write-up on Reddit mentions. Which subreddits matter most to your team?",
        "Hola Mateo, vi tu publicación sobre Salesforce. ¿Qué te hace buscar una alternativa autoalojada?",
        "Priya, rigid Pipedrive reports drove us mad too. Which one do you miss most?",
    ] * 70
    assert not {"reads_like_template", "near_duplicate"} & codes(
        lint_draft(GOOD, platform="x", facts=FACTS, recent_drafts=others)
    )


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=1200)
    | st.lists(
        st.sampled_from(
            [
                "Hi",
                "Dana",
                FAMILY,
                "e\u0301",
                "https://bit.ly/x",
                "example.com",
                "$5",
                "{{ x }}",
                "?",
                "!!",
                "\r\n",
                "revolutionär",
                "ß",
                "\u65e5",
                "@a@b.c",
                "did:plc:z",
                " ",
                "\x00",
                "\ud7ff",
                "\ud800",
            ]
        ),
        max_size=80,
    ).map("".join),
    platform=st.sampled_from(["x", "bluesky", "mastodon", "reddit", "email", "hackernews", ""]),
    kind=st.sampled_from(["first_dm", "public_reply", "follow_up", "reply", "something_else"]),
    facts=st.lists(st.text(max_size=60), max_size=4),
    recent=st.lists(st.text(max_size=200), max_size=5),
    language=st.sampled_from([None, "en", "de", "fr", "es", "ja", "pt-BR", "", "x_Y"]),
)
def test_lint_never_raises_on_arbitrary_text_and_every_finding_has_a_suggestion(
    text: str, platform: str, kind: str, facts: list[str], recent: list[str], language: str | None
) -> None:
    findings = lint_draft(text, platform=platform, kind=kind, facts=facts, recent_drafts=recent, language=language)
    for item in findings:
        assert item.severity in ("block", "warn", "info")
        assert item.suggestion.strip() and item.message.strip()
        if item.span is not None:
            assert 0 <= item.span[0] <= item.span[1] <= len(text)
    assert [f.severity for f in findings] == sorted((f.severity for f in findings), key=("block", "warn", "info").index)
