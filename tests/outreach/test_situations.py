"""The situation of a first message, read from real posts (the recorded payloads under tests/fixtures) and from
short posts in German, French and Spanish; every choice names the cue and the sentence that decided it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from listeners.platforms.connector import html_to_text
from outreach.compose.situations import (
    LeadSignals,
    Situation,
    SituationContext,
    choose_situation,
    named_competitors,
    sentences,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEXT_KEYS = {"text", "full_text", "title", "selftext", "body", "comment_text", "story_text"}


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in TEXT_KEYS and isinstance(value, str):
                yield html_to_text(value) if key in {"comment_text", "story_text"} else value
            else:
                yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def purchase_intent_tweets() -> list[str]:
    with (FIXTURES / "purchase_intent" / "sample.csv").open(encoding="utf-8") as file:
        return [row["text"] for row in csv.DictReader(file)]


def recorded_post(platform: str, fragment: str) -> str:
    """The whole text of the one recorded post on `platform` that contains `fragment`."""
    pool = purchase_intent_tweets() if platform == "purchase_intent" else []
    for path in sorted((FIXTURES / platform).glob("*.json")):
        pool.extend(_texts(json.loads(path.read_text(encoding="utf-8"))))
    found = {text for text in pool if fragment in text}
    assert len(found) == 1, f"expected one recorded {platform} post containing {fragment!r}, found {len(found)}"
    return found.pop()


def situation_of(text: str, *competitors: str, **signals: Any) -> Situation | None:
    return choose_situation(LeadSignals(text=text, competitors=competitors, **signals)).situation


# ------------------------------------------------------------------ asks for an alternative or recommendation


def test_a_tweet_weighing_a_switch_to_another_carrier_asks_for_an_alternative() -> None:
    tweet = recorded_post("purchase_intent", "if I switch to @TMobile")

    choice = choose_situation(LeadSignals(text=tweet, competitors=("Sprint",)))

    assert choice.situation is Situation.ASKS_FOR_ALTERNATIVE
    assert choice.cue == 'asks for an alternative: "switch to"'
    assert choice.sentence in " ".join(tweet.split())


def test_asking_whether_there_is_a_forum_that_does_something_asks_for_a_recommendation() -> None:
    comment = recorded_post("hackernews", "Is there a forum that")

    choice = choose_situation(LeadSignals(text=comment))

    assert choice.situation is Situation.ASKS_FOR_ALTERNATIVE
    assert choice.cue.startswith("asks for a recommendation")


def test_a_post_that_calls_something_an_alternative_without_asking_for_one_is_not_a_request() -> None:
    tweet = recorded_post("x", "A simple alternative to streaming")

    assert situation_of(tweet) is not Situation.ASKS_FOR_ALTERNATIVE


def test_instead_of_in_a_statement_after_a_question_makes_it_a_product_question_not_a_request() -> None:
    post = recorded_post("reddit", "So instead of:")

    choice = choose_situation(LeadSignals(text=post, competitors=("PRAW",)))

    assert choice.situation is Situation.PRODUCT_QUESTION
    assert choice.sentence == "Is it possible to do this?"


def test_recommending_a_competitor_to_others_is_giving_advice_not_asking_for_it() -> None:
    assert situation_of("I'd highly recommend Pipedrive to anyone running a small agency.", "Pipedrive") is None


def test_saying_what_they_need_is_an_implicit_request_for_a_recommendation() -> None:
    choice = choose_situation(LeadSignals(text="We need a CRM that syncs with Gmail and doesn't cost a fortune."))

    assert choice.situation is Situation.ASKS_FOR_ALTERNATIVE
    assert choice.cue.startswith("says what they need")


@pytest.mark.parametrize(
    "post",
    [
        "Kennt jemand eine gute Alternative zu Pipedrive? Wird mir langsam zu teuer.",
        "Quelqu'un connaît une alternative à HubSpot ? On est une équipe de 5.",
        "¿Alguien me recomienda un CRM para una pyme? Salesforce es demasiado.",
        "Wir wollen von Salesforce weg, was nutzt ihr so?",
    ],
)
def test_asking_for_an_alternative_in_german_french_or_spanish_is_recognised(post: str) -> None:
    assert situation_of(post, "Pipedrive", "HubSpot", "Salesforce") is Situation.ASKS_FOR_ALTERNATIVE


# ------------------------------------------------------------------ complains about a competitor


def test_a_frustrated_user_of_a_competitor_complains_about_it() -> None:
    story = recorded_post("hackernews", "As a (frustrated) user")

    choice = choose_situation(LeadSignals(text=story, competitors=("Apple",)))

    assert choice.situation is Situation.COMPETITOR_COMPLAINT
    assert choice.cue == 'complains about Apple: "frustrated"'


def test_a_complaint_to_a_competitors_care_handle_names_that_competitor() -> None:
    tweet = "@sprintcare I have been on hold for 40 minutes, this is ridiculous"

    choice = choose_situation(LeadSignals(text=tweet, competitors=("Sprint", "Verizon")))

    assert choice.situation is Situation.COMPETITOR_COMPLAINT
    assert choice.cue == 'complains about Sprint: "ridiculous"'


def test_a_complaint_that_names_no_competitor_is_not_a_competitor_complaint() -> None:
    tweet = recorded_post("purchase_intent", "I  hate  smartphones that do  useless  gimmicks")

    assert situation_of(tweet) is None


def test_a_clearly_negative_post_about_a_competitor_is_a_complaint_even_without_a_complaint_word() -> None:
    post = "Pipedrive support has not answered my email in four days."

    assert situation_of(post, "Pipedrive") is None
    choice = choose_situation(LeadSignals(text=post, competitors=("Pipedrive",), sentiment=-0.62))
    assert choice.situation is Situation.COMPETITOR_COMPLAINT
    assert choice.cue == "negative tone about Pipedrive"
    assert choice.sentence == post


@pytest.mark.parametrize(
    ("post", "word"),
    [
        ("HubSpot ist so teuer und der Support ist furchtbar.", "furchtbar"),
        ("J'en ai marre de HubSpot, la synchro ne marche plus.", "en ai marre"),
        ("Estoy harta de HubSpot, el soporte no funciona.", "harta"),
    ],
)
def test_complaints_in_german_french_or_spanish_are_recognised(post: str, word: str) -> None:
    choice = choose_situation(LeadSignals(text=post, competitors=("HubSpot",)))

    assert choice.situation is Situation.COMPETITOR_COMPLAINT
    assert word in choice.cue


# ------------------------------------------------------------------ asks a product question


def test_a_question_about_a_library_is_a_product_question() -> None:
    title = recorded_post("reddit", "Is there an easy way of getting a list of the subreddits")

    choice = choose_situation(LeadSignals(text=title, competitors=("PRAW",)))

    assert choice.situation is Situation.PRODUCT_QUESTION
    assert choice.cue.startswith("asks a question")


def test_asking_about_a_cheaper_plan_is_a_price_question() -> None:
    choice = choose_situation(LeadSignals(text="Does Pipedrive have a cheaper plan for two people?"))

    assert choice.situation is Situation.PRODUCT_QUESTION
    assert choice.cue == 'price question: "cheaper"'


@pytest.mark.parametrize(
    "post",
    [
        "Wie kann ich Kontakte aus Pipedrive exportieren",
        "Combien coûte la version pro ?",
        "¿Cómo puedo importar mis contactos?",
    ],
)
def test_questions_in_german_french_or_spanish_are_product_questions(post: str) -> None:
    assert situation_of(post) is Situation.PRODUCT_QUESTION


# ------------------------------------------------------------------ influencers, followers, the caller's context


def test_an_account_with_a_high_influencer_score_is_a_candidate_influencer() -> None:
    choice = choose_situation(
        LeadSignals(
            text="Spent the weekend rebuilding my sales pipeline.", influencer_score=72, influencer_tier="micro"
        )
    )

    assert choice.situation is Situation.CANDIDATE_INFLUENCER
    assert choice.cue == "influencer score 72 (micro tier)"


def test_a_low_influencer_score_outweighs_a_large_tier() -> None:
    assert situation_of("Nice weather", influencer_score=20, influencer_tier="macro") is None


def test_with_only_a_tier_a_micro_or_larger_account_is_a_candidate_and_a_nano_one_is_not() -> None:
    assert situation_of("", influencer_tier="mid") is Situation.CANDIDATE_INFLUENCER
    assert situation_of("", influencer_tier="nano") is None


def test_an_account_flagged_as_inauthentic_never_gets_a_collaboration_pitch() -> None:
    assert situation_of("", influencer_score=90, influencer_tier="mega", authentic=False) is None


def test_an_influencer_who_asks_for_an_alternative_is_answered_as_a_buyer() -> None:
    post = "Any alternative to Pipedrive for a two-person team?"

    assert situation_of(post, "Pipedrive", influencer_score=80) is Situation.ASKS_FOR_ALTERNATIVE


def test_a_new_follower_is_welcomed_only_when_nothing_they_said_or_are_says_more() -> None:
    followed = SituationContext(new_follower=True)

    assert choose_situation(LeadSignals(), followed).situation is Situation.NEW_FOLLOWER
    question = LeadSignals(text="How do I import contacts from a CSV?")
    assert choose_situation(question, followed).situation is Situation.PRODUCT_QUESTION
    assert choose_situation(LeadSignals(influencer_score=75), followed).situation is Situation.CANDIDATE_INFLUENCER


def test_follow_ups_and_support_cases_come_from_the_caller_whatever_the_mention_says() -> None:
    asks = LeadSignals(text="Any alternative to HubSpot?", competitors=("HubSpot",))

    assert choose_situation(asks, SituationContext(follow_up=1)).situation is Situation.FOLLOW_UP_1
    assert choose_situation(asks, SituationContext(follow_up=2)).situation is Situation.FOLLOW_UP_2
    assert choose_situation(asks, SituationContext(after_support_case=True)).situation is Situation.AFTER_SUPPORT_CASE


def test_a_sequence_has_no_third_follow_up() -> None:
    with pytest.raises(ValueError, match="follow-ups 1 and 2"):
        SituationContext(follow_up=3)


# ------------------------------------------------------------------ score reasons


def test_without_the_mention_text_the_score_reasons_decide() -> None:
    def by_reasons(*reasons: str) -> Situation | None:
        return choose_situation(LeadSignals(reasons=reasons)).situation

    assert by_reasons("asks for an alternative to HubSpot", "DMs open") is Situation.ASKS_FOR_ALTERNATIVE
    assert by_reasons("complaint or pain", "mentions competitor Zoho") is Situation.COMPETITOR_COMPLAINT
    assert by_reasons("complaint or pain") is None
    assert by_reasons("question form") is Situation.PRODUCT_QUESTION
    assert choose_situation(LeadSignals(reasons=("price question",))).cue == 'score reason "price question"'


def test_score_reasons_do_not_overrule_what_the_text_says() -> None:
    tweet = recorded_post("x", "A simple alternative to streaming")

    assert choose_situation(LeadSignals(text=tweet, reasons=("asks for an alternative",))).situation is None


def test_competitors_named_only_in_the_score_reasons_still_count() -> None:
    choice = choose_situation(
        LeadSignals(text="Their sync is broken again.", reasons=("complains about Zoho CRM", "negative tone"))
    )

    assert choice.situation is Situation.COMPETITOR_COMPLAINT
    assert choice.cue == 'complains about Zoho CRM: "broken"'


# ------------------------------------------------------------------ over every recorded tweet


def test_over_a_thousand_recorded_tweets_every_choice_is_repeatable_and_quotes_its_own_sentence() -> None:
    decided = 0
    for tweet in purchase_intent_tweets():
        signals = LeadSignals(text=tweet, competitors=("Apple", "Samsung", "Google"))
        choice = choose_situation(signals)
        assert choice == choose_situation(signals)
        if choice.sentence:
            decided += 1
            assert choice.sentence in sentences(tweet)
            if '"' in choice.cue:
                quoted = choice.cue.split('"')[1]
                assert quoted in choice.sentence
    assert decided > 100


def test_competitors_are_listed_in_the_order_the_post_names_them_as_the_watch_spells_them() -> None:
    post = "Moving from salesforce to HUBSPOT, or maybe @zohocrm"

    assert named_competitors(post, ["HubSpot", "Zoho", "Salesforce", "Pipedrive"]) == ["Salesforce", "HubSpot", "Zoho"]


def test_a_question_mark_ends_a_sentence_even_without_a_space_after_it() -> None:
    assert sentences("We all want 3D face login?Edge to Edge display?Or is this") == [
        "We all want 3D face login?",
        "Edge to Edge display?",
        "Or is this",
    ]


def test_a_question_mark_inside_a_link_does_not_make_a_post_a_question() -> None:
    tweet = recorded_post("purchase_intent", "youtu.be/cMIz1LCq5Fk?a")

    assert situation_of(tweet) is None
