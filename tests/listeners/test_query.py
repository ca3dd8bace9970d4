import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listeners.matching import WatchMatcher
from listeners.query import (
    MAX_DEPTH,
    And,
    Near,
    Node,
    Not,
    Or,
    QueryError,
    Term,
    make_term,
    parse,
    render,
    terms_of,
    tokenize,
)

WORDS = ["crm", "salesforce", "pricing", "café", "alt", "#crm", "@hubspot", "$crm", "and", "not", "switch"]
TEXT_WORDS = [
    "crm",
    "CRM",
    "#Crm",
    "salesforce",
    "SalesForce",
    "pricing",
    "CAFE",
    "Café",
    "cafe",
    "alt",
    "@HubSpot",
    "hubspot",
    "$CRM",
    "AND",
    "not",
    "switch",
    "x",
]

terms = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(lambda ws: make_term(" ".join(ws)))
trees: st.SearchStrategy[Node] = st.recursive(
    st.one_of(terms, st.builds(Near, terms, terms, st.integers(0, 4))),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    ),
    max_leaves=8,
)
texts = st.lists(st.sampled_from(TEXT_WORDS), max_size=12).map(" ".join)


def occurrences(phrase: tuple[str, ...], tokens: list[str]) -> list[int]:
    found = []
    for start in range(len(tokens) - len(phrase) + 1):
        window = tokens[start : start + len(phrase)]
        if all(have in (want, "#" + want) for have, want in zip(window, phrase, strict=True)):
            found.append(start)
    return found


def reference(node: Node, tokens: list[str]) -> bool:
    if isinstance(node, Term):
        return bool(occurrences(node.tokens, tokens))
    if isinstance(node, Not):
        return not reference(node.item, tokens)
    if isinstance(node, And):
        return all(reference(item, tokens) for item in node.items)
    if isinstance(node, Or):
        return any(reference(item, tokens) for item in node.items)
    for i in occurrences(node.left.tokens, tokens):
        for j in occurrences(node.right.tokens, tokens):
            left_end, right_end = i + len(node.left.tokens), j + len(node.right.tokens)
            gap = max(j - left_end, i - right_end, 0)
            if gap <= node.distance:
                return True
    return False


@given(trees)
def test_a_rendered_query_parses_back_to_the_same_tree(tree: Node) -> None:
    assert parse(render(tree)) == tree


@given(st.text(alphabet=st.sampled_from(list('ab "()ANDORNOTEAR/3#@$é')), max_size=40))
def test_any_text_either_parses_or_names_a_position_inside_the_query(query: str) -> None:
    caught: QueryError | None = None
    try:
        parse(query)
    except QueryError as exc:
        caught = exc
    if caught is not None:
        assert 0 <= caught.position <= len(query)
        assert f"position {caught.position}" in str(caught)


@settings(max_examples=300)
@given(trees, texts)
def test_the_matcher_agrees_with_a_naive_evaluation_of_the_query(tree: Node, text: str) -> None:
    matcher = WatchMatcher(query=render(tree))
    assert bool(matcher.match(text)) == reference(tree, tokenize(text))


@given(trees, texts)
def test_matching_ignores_case_and_accents(tree: Node, text: str) -> None:
    matcher = WatchMatcher(query=render(tree))
    shouted = text.upper().replace("CAFE", "CAFÉ")
    assert bool(matcher.match(text)) == bool(matcher.match(shouted))


@given(trees, texts)
def test_reported_terms_come_from_the_query_and_occur_in_the_text(tree: Node, text: str) -> None:
    found = WatchMatcher(query=render(tree)).match(text)
    known = {" ".join(t.tokens) for t in terms_of(tree)}
    tokens = tokenize(text)
    for term in found.terms:
        assert term in known
        assert occurrences(tuple(tokenize(term)), tokens)


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), texts)
def test_keywords_without_a_query_match_when_any_keyword_occurs(keywords: list[str], text: str) -> None:
    found = WatchMatcher(keywords=keywords).match(text)
    expected = [k for k in keywords if occurrences(tuple(tokenize(k)), tokenize(text))]
    assert bool(found) == bool(expected)
    assert set(found.terms) == set(expected)


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("crm AND", 7, "ends where a term was expected"),
        ("(crm OR hubspot", 0, "never closed"),
        ("crm) OR x", 3, "without a matching"),
        ('crm "sales pipeline', 4, "unterminated"),
        ("crm NEAR/x pricing", 4, "NEAR needs a distance"),
        ("crm NEAR/3 (a OR b)", 11, "NEAR joins"),
        ("crm AND OR x", 8, "expected a term"),
        ("crm AND ()", 8, "empty parentheses"),
        ("crm AND !!!", 8, "no letters or digits"),
        ("(" * (MAX_DEPTH + 2) + "x" + ")" * (MAX_DEPTH + 2), MAX_DEPTH, "nests too deeply"),
    ],
)
def test_a_query_error_points_at_the_mistake(query: str, position: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.position == position
    assert words in caught.value.message


def test_an_empty_query_is_no_query() -> None:
    assert parse("   ") is None


def test_words_side_by_side_are_anded_and_lower_case_operators_are_words() -> None:
    assert parse("crm alternative") == And((make_term("crm"), make_term("alternative")))
    assert parse("crm or hubspot") == And((make_term("crm"), make_term("or"), make_term("hubspot")))


def test_a_plain_word_matches_its_hashtag_but_handles_and_cashtags_match_only_themselves() -> None:
    assert WatchMatcher(keywords=["crm"]).match("love my #CRM")
    assert not WatchMatcher(keywords=["#crm"]).match("love my CRM")
    assert WatchMatcher(keywords=["@hubspot"]).match("hey @HubSpot, help")
    assert not WatchMatcher(keywords=["hubspot"]).match("hey @HubSpot, help")
    assert WatchMatcher(keywords=["$crm"]).match("$CRM is up 3%")
    assert not WatchMatcher(keywords=["$crm"]).match("crm is up 3%")
    assert WatchMatcher(keywords=["@ana"]).match("cc @ana@mastodon.social") is not None
    assert WatchMatcher(keywords=["@ana.bsky.social"]).match("cc @Ana.bsky.social!")


def test_phrases_match_whole_words_in_order_across_accents() -> None:
    matcher = WatchMatcher(keywords=["Café Crème"])
    assert matcher.match("un CAFE creme svp").terms == ("Café Crème",)
    assert not matcher.match("creme cafe")
    assert not WatchMatcher(keywords=["crm"]).match("crmx and xcrm")


def test_near_counts_the_words_between_two_terms_in_either_order() -> None:
    matcher = WatchMatcher(query="salesforce NEAR/2 expensive")
    assert matcher.match("Salesforce is too expensive")
    assert matcher.match("expensive, that is salesforce")
    assert not matcher.match("Salesforce is far far too expensive")


def test_a_competitor_name_in_a_query_stands_for_its_aliases_and_handles() -> None:
    competitors = [{"name": "Salesforce", "aliases": ["sfdc"], "handles": ["@salesforce"]}]
    matcher = WatchMatcher(query="Salesforce NEAR/3 pricing AND NOT hiring", competitors=competitors)
    found = matcher.match("@SalesForce your pricing is wild")
    assert found.competitors == ("Salesforce",)
    assert "pricing" in found.terms
    assert matcher.match("sfdc pricing again")
    assert not matcher.match("sfdc pricing again, and we are hiring")


def test_excluded_terms_authors_languages_and_platforms_rule_a_post_out() -> None:
    matcher = WatchMatcher(
        keywords=["crm"],
        excluded_terms=["job opening"],
        excluded_authors=["@Spammy"],
        languages=["en"],
        platforms=["x"],
    )
    assert matcher.match("need a crm", author="someone", language="en", platform="x")
    assert not matcher.match("crm job opening here")
    assert not matcher.match("need a crm", author="spammy")
    assert not matcher.match("need a crm", language="de")
    assert not matcher.match("need a crm", platform="reddit")
    assert matcher.match("need a crm", language=None)
