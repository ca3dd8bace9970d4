"""`crm outreach ...`: who is writing (the sender profile drafts are written from).

Registered by the CLI composition root; like the rest of the CLI, every expected failure is one line on stderr
and exit code 1, and `--json` prints one document for scripts.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from crm.db import make_engine, make_sessionmaker, session_scope
from crm.models import SenderProfile
from crm.ops.cli_errors import friendly, load_settings
from crm.ops.preflight import check_database
from crm.settings import Settings
from outreach.profile import PROFILE_FIELDS, read_profile, save_profile

_friendly = friendly()
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of text (for scripts)."
)


def _document(profile: SenderProfile) -> dict[str, Any]:
    return {**{name: getattr(profile, name) for name in PROFILE_FIELDS}, "version": profile.version}


def _echo(profile: SenderProfile, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_document(profile)))
        return
    for name in PROFILE_FIELDS:
        click.echo(f"{name.replace('_', ' ')}: {getattr(profile, name) or '-'}")
    if not profile.product and not profile.company:
        click.echo("(no product or company: drafts name none and make no product claim)")


async def _with_profile(settings: Settings, changes: dict[str, str] | None) -> SenderProfile:
    await check_database(settings)
    engine = make_engine(settings)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            if changes is None:
                return await read_profile(session, settings)
            return await save_profile(session, settings, None, changes)
    finally:
        await engine.dispose()


@click.group()
def outreach() -> None:
    """Outreach: the sender profile drafts are written from."""


@outreach.group()
def profile() -> None:
    """The workspace's sender profile: company, product, value proposition, website."""


@profile.command("show")
@json_option
@_friendly
def profile_show(as_json: bool) -> None:
    """Print the sender profile (--json: {company, product, value_proposition, website, version}; version 0 means
    never saved, the CRM_PRODUCT_NAME and CRM_COMPANY_NAME settings stand in)."""
    _echo(asyncio.run(_with_profile(load_settings(), None)), as_json)


@profile.command("set")
@click.option("--company", help="Your company's name.")
@click.option("--product", help="Your product's name, as drafts should say it.")
@click.option("--value-proposition", help="One line, e.g. 'a CRM small teams set up in an afternoon'.")
@click.option("--website", help="https://... (never put in a first message).")
@json_option
@_friendly
def profile_set(
    company: str | None, product: str | None, value_proposition: str | None, website: str | None, as_json: bool
) -> None:
    """Change the fields given (the others stay); an empty value clears one: --product ''."""
    given = {"company": company, "product": product, "value_proposition": value_proposition, "website": website}
    changes = {name: value for name, value in given.items() if value is not None}
    if not changes:
        raise click.UsageError("give at least one of --company, --product, --value-proposition, --website")
    if website and not website.startswith(("http://", "https://")):
        raise click.BadParameter("the website is an http(s) address", param_hint="--website")
    _echo(asyncio.run(_with_profile(load_settings(), changes)), as_json)
