"""Render a personalised first DM from a template and the lead's mention; never a generic blast."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from crm.errors import InvalidInput

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

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True, slots=True)
class DraftContext:
    name: str
    platform: str
    mention_text: str
    competitor: str | None
    product: str = "Warmline"


def excerpt(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def default_template() -> str:
    return resources.files("outreach").joinpath("messages/first_dm.txt.j2").read_text(encoding="utf-8")


def render_first_dm(context: DraftContext, template: str | None = None) -> str:
    """The first DM text; a template error or an over-long result is reported, not sent."""
    try:
        body = _env.from_string(template or default_template()).render(
            name=context.name.split()[0] if context.name.strip() else "there",
            platform_label=PLATFORM_LABELS.get(context.platform, context.platform),
            mention_excerpt=excerpt(context.mention_text),
            competitor=context.competitor,
            product=context.product,
        )
    except TemplateError as exc:
        raise InvalidInput(f"template error: {exc}") from exc
    body = "\n".join(line.rstrip() for line in body.strip().splitlines())
    limit = MAX_DM_CHARS.get(context.platform, 10_000)
    if len(body) > limit:
        raise InvalidInput(f"the draft is {len(body)} characters; {context.platform} DMs hold at most {limit}")
    return body
