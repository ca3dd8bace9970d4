"""Render a message from a template: the built-in ones per situation (`templates/<situation>.txt.j2`, each variant
a `{% block %}`), or a template a user sends.

The built-in templates are ours and render in process; a template a user sends is code from outside and renders
in a worker process (`outreach.compose.render_pool`), bounded in time and memory, and is checked against the
platform's DM size. Which template, which variant and which fields is decided by `outreach.compose.writer`.

Who a message greets: the first word of the person's display name when it reads like a name (not a DID, a handle,
an e-mail address or a URL; emoji, honorifics and decorations are skipped); otherwise their handle without the
`@`, the instance or the domain when that is letters only (`@dana@mastodon.social` -> "dana"); otherwise "there".
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import Environment, StrictUndefined, Template

from crm.errors import InvalidInput
from outreach.compose.render_pool import render_untrusted
from outreach.compose.tidy import tidy

PLATFORM_LABELS = {
    "x": "X",
    "hackernews": "Hacker News",
    "reddit": "Reddit",
    "bluesky": "Bluesky",
    "mastodon": "Mastodon",
    "rss": "blog",
    "file": "",
    "webhook": "",
}
# X allows 10,000 characters per DM; the others are shorter in practice, and first DMs should be short anyway.
MAX_DM_CHARS = {"x": 10_000, "bluesky": 1_000, "mastodon": 500, "reddit": 10_000, "hackernews": 2_000}

FALLBACK_NAME = "there"
HONORIFICS = frozenset({"mr", "mrs", "ms", "mx", "miss", "dr", "prof", "sir", "dame"})
# A display name opening with one of these names an account, not a person ("The CRM Guy", "Official Acme").
NOT_A_NAME = frozenset({"the", "official", "team", "admin", "support"})
NAME_PUNCTUATION = string.punctuation + "\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026"
# Inside a name word only letters, marks and these: O'Brien, Jean-Luc, J.R.
NAME_JOINERS = frozenset("'\u2019-.")
DOMAIN_LIKE = re.compile(r"\w\.\w{2,}")
HANDLE_NAME = re.compile(r"[^\W\d_]{2,20}")
MAX_NAME_CHARS = 30


@dataclass(frozen=True, slots=True)
class DraftContext:
    name: str
    platform: str
    mention_text: str
    competitor: str | None
    product: str = ""
    company: str = ""
    # The person's handles (never used as a greeting when a real name exists) and their accounts' display names,
    # tried after `name` when it is not a name (intake stores the handle there when a post carries no name).
    handles: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()


def excerpt(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def handle_local_part(handle: str) -> str:
    """`@dana@mastodon.social` -> `dana`, `dana.bsky.social` -> `dana`; a DID has no local part."""
    cleaned = handle.strip().lstrip("@")
    if not cleaned or cleaned.casefold().startswith("did:"):
        return ""
    return re.split(r"[@.]", cleaned, maxsplit=1)[0]


def visible_text(text: str) -> str:
    """Letters, marks, numbers, punctuation and spaces; emoji, symbols and invisible format characters go."""
    kept = (ch if unicodedata.category(ch)[0] in "LMNPZ" else " " for ch in unicodedata.normalize("NFKC", text))
    return " ".join("".join(kept).split())


def first_name(display_name: str, handles: Iterable[str] = ()) -> str | None:
    """The word to greet someone by from their display name, or None when it is not a person's name."""
    flat = visible_text(display_name)
    lowered = flat.casefold()
    if not flat or "did:" in lowered or "://" in lowered or lowered.startswith("www."):
        return None
    # Intake stores the handle as the name when a post carries none; a real "Dana" for handle "dana" stands.
    if flat.lstrip("@") in {h.strip().lstrip("@") for h in handles} | {handle_local_part(h) for h in handles}:
        return None
    words = [w.strip(NAME_PUNCTUATION) for w in flat.split()]
    words = [w for w in words if any(ch.isalpha() for ch in w) and w.casefold().rstrip(".") not in HONORIFICS]
    if not words:
        return None
    word = words[0]
    if (
        word.casefold() in NOT_A_NAME
        or len(word) > MAX_NAME_CHARS
        or not all(ch.isalpha() or unicodedata.category(ch)[0] == "M" or ch in NAME_JOINERS for ch in word)
        or DOMAIN_LIKE.search(word)
    ):
        return None
    return word


def greeting_name(context: DraftContext) -> str:
    for candidate in (context.name, *context.other_names):
        found = first_name(candidate, context.handles)
        if found:
            return found
    for handle in context.handles:
        local = handle_local_part(handle)
        if HANDLE_NAME.fullmatch(local):
            return local
    return FALLBACK_NAME


def template_values(context: DraftContext) -> dict[str, Any]:
    """The fields of the first templates, still given to user templates (documented in the API)."""
    return {
        "name": greeting_name(context),
        "platform_label": PLATFORM_LABELS.get(context.platform, context.platform),
        "mention_excerpt": excerpt(context.mention_text),
        "competitor": (context.competitor or "").strip() or None,
        "product": context.product.strip(),
        "company": context.company.strip(),
    }


# The built-in templates, one per situation of outreach.compose.situations plus the general first message.
BUILTIN_TEMPLATES = (
    "asks_for_alternative",
    "competitor_complaint",
    "product_question",
    "candidate_influencer",
    "new_follower",
    "after_support_case",
    "follow_up_1",
    "follow_up_2",
    "general",
)
GENERAL = "general"
# Ours, so not sandboxed; StrictUndefined makes a misspelt field in a built-in template fail its tests. No
# trim_blocks: a line ending in `{% endif %}` must keep its newline, or two sentences run together ("here.What").
_BUILTIN_ENV = Environment(undefined=StrictUndefined, lstrip_blocks=True, autoescape=False)


def builtin_source(name: str) -> str:
    if name not in BUILTIN_TEMPLATES:
        raise ValueError(f"there is no built-in template {name!r}")
    return resources.files("outreach.compose").joinpath(f"templates/{name}.txt.j2").read_text(encoding="utf-8")


@lru_cache(maxsize=len(BUILTIN_TEMPLATES))
def builtin_template(name: str) -> Template:
    return _BUILTIN_ENV.from_string(builtin_source(name))


def builtin_variants(name: str) -> tuple[str, ...]:
    """The template's variants (its blocks), in the order the file writes them."""
    return tuple(builtin_template(name).blocks)


def render_variant(name: str, variant: str, values: dict[str, Any]) -> str:
    """One variant of a built-in template, untidied."""
    template = builtin_template(name)
    if variant not in template.blocks:
        raise ValueError(f"the {name} template has no variant {variant!r}")
    return "".join(template.blocks[variant](template.new_context(values)))


def dm_char_limit(platform: str) -> int:
    """The longest DM the platform takes; a platform without a known limit gets X's, the most generous."""
    return MAX_DM_CHARS.get(platform, 10_000)


def finish(body: str, platform: str) -> str:
    """The rendered text as it will be sent, or a refusal when it is empty or too long for the platform."""
    body = tidy(body)
    if not body:
        raise InvalidInput("the template produced an empty message")
    limit = dm_char_limit(platform)
    if len(body) > limit:
        raise InvalidInput(f"the draft is {len(body)} characters; {platform} DMs hold at most {limit}")
    return body


async def render_user_template(template: str, values: dict[str, Any], platform: str) -> str:
    """A user's template rendered sandboxed; a template error, a template over its time or memory bound, or an
    over-long result is reported (422), not sent."""
    return finish(await render_untrusted(template, values), platform)
