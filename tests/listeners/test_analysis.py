from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.models import Mention
from listeners.analysis import analyse
from listeners.normalise import content_hash, detect_language, guess_language
from listeners.query import tokenize
from listeners.store import save_mentions
from scoring.sentiment import vader_compound
from tests.listeners.builders import make_watch, mention


async def test_analysis_fills_sentiment_and_the_languages_the_vote_left_open(session: AsyncSession) -> None:
    watch = await make_watch(session)
    result = await save_mentions(
        session,
        watch,
        [
            mention("1", "I absolutely love this CRM, it is great!"),
            mention("2", "Ce CRM horrible me rend fou", handle="fr"),
        ],
    )
    await session.commit()
    before = {m.external_id: (m.language, m.sentiment) for m in (await session.exec(select(Mention))).all()}
    assert before == {"1": ("en", None), "2": (None, None)}

    assert await analyse(session, result.new_mentions) == 2
    await session.commit()
    session.expire_all()
    after = {m.external_id: m for m in (await session.exec(select(Mention))).all()}
    assert after["1"].sentiment is not None and after["1"].sentiment > 0.5
    assert after["2"].language == "fr"
    assert await analyse(session, result.new_mentions) == 0


def test_the_stopword_vote_names_a_language_only_when_it_is_clear() -> None:
    assert guess_language(tokenize("Can anyone recommend a tool that is not slow?")) == "en"
    assert guess_language(tokenize("¿Alguien conoce una herramienta para nuestro equipo?")) == "es"
    assert guess_language(tokenize("crm crm crm")) is None
    assert detect_language("Kennt jemand ein gutes Werkzeug für kleine Teams?") == "de"


def test_reposts_and_cross_posts_hash_alike_but_other_texts_do_not() -> None:
    text = "Looking for a CRM that does not cost a fortune"
    assert content_hash(text) == content_hash(f"RT @someone: {text.upper()} https://t.co/x")
    assert content_hash(text) != content_hash(text + " today")
    assert vader_compound("this is terrible and I hate it") < 0
