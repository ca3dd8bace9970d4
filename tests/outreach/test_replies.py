"""Reply classification: opt-outs are caught first, then the rep's next step is named."""

from __future__ import annotations

import pytest

from outreach.replies.classify import ReplyKind, classify_reply


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "Please stop messaging me.",
        "unsubscribe",
        "Don\u2019t DM me again",
        "do not contact me",
        "This is spam, reported.",
        "Remove me from your list",
        "Not interested, stop messaging me",
        "Opt out",
    ],
)
def test_an_opt_out_is_recognised_however_it_is_worded(text: str) -> None:
    assert classify_reply(text) is ReplyKind.OPT_OUT


@pytest.mark.parametrize(
    "text",
    ["Not interested, thanks", "No thanks", "We're all set with HubSpot", "already using Pipedrive", "I'll pass"],
)
def test_a_polite_no_is_not_interested_rather_than_an_opt_out(text: str) -> None:
    assert classify_reply(text) is ReplyKind.NOT_INTERESTED


@pytest.mark.parametrize(
    "text", ["Sure, tell me more", "Sounds good, let's book a call", "Interested!", "Send me the pricing", "yes please"]
)
def test_a_yes_is_interested(text: str) -> None:
    assert classify_reply(text) is ReplyKind.INTERESTED


def test_a_question_is_told_apart_from_a_plain_reply() -> None:
    assert classify_reply("How does it compare on price?") is ReplyKind.QUESTION
    assert classify_reply("which plan has the API") is ReplyKind.QUESTION
    assert classify_reply("Thanks for reaching out.") is ReplyKind.NEUTRAL


def test_accents_and_case_do_not_hide_an_opt_out() -> None:
    assert classify_reply("ÚNSÚBSCRIBE") is ReplyKind.OPT_OUT
