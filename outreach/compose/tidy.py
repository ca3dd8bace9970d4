"""The last pass over every draft, built-in or user-written: whatever empty fields and template slips leave behind
(placeholders, DIDs, empty brackets, doubled or dangling punctuation, stray spaces) goes before a person reads it."""

from __future__ import annotations

import re

DID = re.compile(r"\bdid:[a-z0-9]+:[\w.:%-]+", re.I)
_PLACEHOLDERS = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\{\s*\w[\w.]*\s*\}|\[\s*(?:first|last|full)?\s*name\s*\]|%[A-Z_]{2,}%",
    re.I,
)
# What is left of a broken template tag ("{{ name }" or a lone "%}").
_STRAY_DELIMITERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
EMPTY_PAIRS = re.compile(
    r"\(\s*\)|\[\s*\]|\"\s*\"|\u201c\s*\u201d|\u201e\s*\u201c|\u00ab\s*\u00bb|\u2018\s*\u2019|(?<!\w)'\s*'(?!\w)"
)
_SPACE_BEFORE = re.compile(r"[^\S\n]+([,.;:!?)\]%…])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[])[^\S\n]+")
_CLAUSE_MARK_RUN = re.compile(r"([,;:])(?:\s*[,;:])+")
_CLAUSE_MARK_BEFORE_END = re.compile(r"[,;:]\s*(?=[.!?…)\]])")
_END_THEN_MARK = re.compile(r"([.!?])\s*[,;:]")
_DOUBLE_STOP = re.compile(r"(?<!\.)\.\s*\.(?!\.)")
_DANGLING_DASH = re.compile(r"\s+[-\u2013\u2014]+(?=\s*(?:$|[,.;:!?]))")
_LEADING_PUNCTUATION = re.compile(r"^[,.;:!?)\]…]+\s*")
# "Hi Dana," and "Thanks," end lines; only the draft's own end cannot be a comma, colon or open bracket.
_TRAILING_OPENERS = re.compile(r"[\s,;:(\[\u2013\u2014]+$")


def tidy_line(line: str) -> str:
    line = re.sub(r"[^\S\n]+", " ", line)
    line = _SPACE_BEFORE.sub(r"\1", line)
    line = _SPACE_AFTER_OPEN.sub(r"\1", line)
    line = _CLAUSE_MARK_RUN.sub(r"\1", line)
    line = _CLAUSE_MARK_BEFORE_END.sub("", line)
    line = _END_THEN_MARK.sub(r"\1", line)
    line = _DOUBLE_STOP.sub(".", line)
    line = _DANGLING_DASH.sub("", line)
    stripped = _LEADING_PUNCTUATION.sub("", line.strip())
    if stripped != line.strip() and stripped[:1].islower():
        stripped = stripped[0].upper() + stripped[1:]
    return stripped


def tidy(text: str) -> str:
    """The draft as it can be sent: no unfilled placeholder ({{ name }}, {name}, [First name], %NAME%) or DID, no empty
    brackets or quotes, one space between words and none before punctuation or inside brackets, no run of clause
    marks (", ," or ", ."), no line opening with punctuation ("Hi ," becomes "Hi,"), no draft ending on a comma,
    colon or open bracket, at most one blank line in a row. Applying it twice changes nothing."""
    text = _STRAY_DELIMITERS.sub("", DID.sub("", _PLACEHOLDERS.sub("", text)))
    for _ in range(5):  # removing one empty pair can empty the one around it: ("")
        previous = text
        text = EMPTY_PAIRS.sub(" ", text)
        text = "\n".join(tidy_line(line) for line in text.splitlines())
        text = _TRAILING_OPENERS.sub("", re.sub(r"\n{3,}", "\n\n", text).strip())
        if text == previous:
            break
    return text
