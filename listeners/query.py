"""The watch query language: AND, OR, NOT, "quoted phrases", parentheses and NEAR/n, parsed into a small tree.

Operators are upper-case words (`and`, `or`, `not` in lower case are ordinary terms); words next to each other
without an operator are ANDed. Errors carry the position (0-based character offset) of the mistake.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MAX_QUERY_LENGTH = 20_000
MAX_DEPTH = 40
MAX_NEAR = 100

# A word, a #hashtag, an @handle (with dots, dashes and @instance, as on Bluesky and Mastodon) or a $cashtag.
# The alternatives start with different characters (a word character, or @ # $), so at most one can match at a
# position and their order does not change the result; words come first because most positions start one,
# which halves the time per post.
TOKEN = re.compile(r"\w+|(?<![\w@#$])(?:@\w+(?:[.@-]\w+)*|#\w+|\$[^\W\d]\w*)")


def fold(text: str) -> str:
    """Lower-case and strip accents, so 'Café' and 'CAFE' are the same word."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """The folded tokens of a text; the same function splits posts and query terms, so both agree."""
    return TOKEN.findall(fold(text))


class QueryError(ValueError):
    """A query that does not parse; `position` is the 0-based offset of the mistake."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


# --------------------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class Term:
    tokens: tuple[str, ...]
    text: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Near:
    left: Term
    right: Term
    distance: int


Node = Term | Not | And | Or | Near


def make_term(text: str, position: int = 0) -> Term:
    tokens = tuple(tokenize(text))
    if not tokens:
        raise QueryError(f"{text!r} has no letters or digits to match", position)
    return Term(tokens, text.strip())


def terms_of(node: Node, *, positive: bool = True) -> Iterator[Term]:
    """Every term in the tree; with positive=True, only those not under a NOT (the ones that can explain a match)."""
    if isinstance(node, Term):
        yield node
    elif isinstance(node, Near):
        yield node.left
        yield node.right
    elif isinstance(node, Not):
        if not positive:
            yield from terms_of(node.item, positive=positive)
    else:
        for item in node.items:
            yield from terms_of(item, positive=positive)


def render(node: Node) -> str:
    """The query text for a tree; parse(render(t)) gives t back."""
    if isinstance(node, Term):
        return '"' + " ".join(node.tokens) + '"'
    if isinstance(node, Near):
        return f"{render(node.left)} NEAR/{node.distance} {render(node.right)}"
    if isinstance(node, Not):
        return f"NOT {_wrapped(node.item)}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(_wrapped(item) for item in node.items)


def _wrapped(node: Node) -> str:
    return render(node) if isinstance(node, Term) else f"({render(node)})"


# --------------------------------------------------------------------------- lexer


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word | phrase | and | or | not | near | ( | ) | end
    text: str
    position: int
    distance: int = 0


_NEAR = re.compile(r"NEAR/(\d+)$")


def _lex(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Tok(ch, ch, i))
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError("unterminated quoted phrase", i)
            tokens.append(_Tok("phrase", query[i + 1 : end], i))
            i = end + 1
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in '()"':
                i += 1
            word = query[start:i]
            if word in ("AND", "OR", "NOT"):
                tokens.append(_Tok(word.lower(), word, start))
            elif word.startswith("NEAR/") or word == "NEAR":
                near = _NEAR.match(word)
                if near is None:
                    raise QueryError("NEAR needs a distance, as in NEAR/3", start)
                distance = int(near.group(1))
                if distance > MAX_NEAR:
                    raise QueryError(f"NEAR distance must be at most {MAX_NEAR}", start)
                tokens.append(_Tok("near", word, start, distance))
            else:
                tokens.append(_Tok("word", word, start))
    tokens.append(_Tok("end", "", n))
    return tokens


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _lex(query)
        self.at = 0

    def peek(self) -> _Tok:
        return self.tokens[self.at]

    def take(self) -> _Tok:
        tok = self.tokens[self.at]
        self.at += 1
        return tok

    def parse(self) -> Node:
        node = self.or_expr(0)
        tok = self.peek()
        if tok.kind == ")":
            raise QueryError("')' without a matching '('", tok.position)
        if tok.kind != "end":  # pragma: no cover - or_expr consumes everything else
            raise QueryError(f"unexpected {tok.text!r}", tok.position)
        return node

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.peek().kind == "or":
            self.take()
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while self.peek().kind in ("and", "not", "word", "phrase", "("):
            if self.peek().kind == "and":
                self.take()
            items.append(self.unary(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self, depth: int) -> Node:
        if self.peek().kind == "not":
            tok = self.take()
            if depth >= MAX_DEPTH:
                raise QueryError("the query nests too deeply", tok.position)
            return Not(self.unary(depth + 1))
        return self.near(depth)

    def near(self, depth: int) -> Node:
        start = self.peek()
        left = self.primary(depth)
        while self.peek().kind == "near":
            op = self.take()
            if not isinstance(left, Term):
                raise QueryError("NEAR joins two terms or phrases, not a group or another NEAR", start.position)
            right_start = self.peek()
            right = self.primary(depth)
            if not isinstance(right, Term):
                raise QueryError("NEAR joins two terms or phrases, not a group", right_start.position)
            left = Near(left, right, op.distance)  # type: ignore[assignment]
        return left

    def primary(self, depth: int) -> Node:
        tok = self.take()
        if tok.kind in ("word", "phrase"):
            offset = tok.position + (1 if tok.kind == "phrase" else 0)
            return make_term(tok.text, offset)
        if tok.kind == "(":
            if depth >= MAX_DEPTH:
                raise QueryError("the query nests too deeply", tok.position)
            if self.peek().kind == ")":
                raise QueryError("empty parentheses", tok.position)
            node = self.or_expr(depth + 1)
            if self.peek().kind != ")":
                raise QueryError("'(' is never closed", tok.position)
            self.take()
            return node
        if tok.kind == "end":
            raise QueryError("the query ends where a term was expected", tok.position)
        if tok.kind == ")":
            raise QueryError("expected a term before ')'", tok.position)
        raise QueryError(f"expected a term, a phrase or '(' but found {tok.text}", tok.position)


def parse(query: str) -> Node | None:
    """The tree for a query, or None for an empty one; raises QueryError pointing at the mistake."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    if not query.strip():
        return None
    return _Parser(query).parse()


# --------------------------------------------------------------------------- evaluation


Hits = dict[tuple[str, ...], list[int]]


def _near(hits: Hits, node: Near) -> bool:
    left, right = hits.get(node.left.tokens), hits.get(node.right.tokens)
    if not left or not right:
        return False
    la, lb = len(node.left.tokens), len(node.right.tokens)
    for i in left:
        for j in right:
            gap = j - (i + la) if j >= i + la else i - (j + lb) if i >= j + lb else 0
            if gap <= node.distance:
                return True
    return False


def evaluate(node: Node, hits: Hits) -> bool:
    """Whether the tree holds for a text, given where each of its terms starts in the text's tokens."""
    if isinstance(node, Term):
        return node.tokens in hits
    if isinstance(node, And):
        return all(evaluate(item, hits) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, hits) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, hits)
    return _near(hits, node)


def compile_query(node: Node) -> Callable[[Hits], bool]:
    """`evaluate` as closures, with each OR of plain terms turned into one set test, so a query over hundreds of
    terms costs about as much per post as the post has distinct terms."""
    if isinstance(node, Term):
        key = node.tokens
        return lambda hits: key in hits
    if isinstance(node, Near):
        return lambda hits: _near(hits, node)
    if isinstance(node, Not):
        inner = compile_query(node.item)
        return lambda hits: not inner(hits)
    parts = [compile_query(item) for item in node.items if not (isinstance(node, Or) and isinstance(item, Term))]
    if isinstance(node, And):
        return lambda hits: all(part(hits) for part in parts)
    keys = frozenset(item.tokens for item in node.items if isinstance(item, Term))
    return lambda hits: not keys.isdisjoint(hits) or any(part(hits) for part in parts)
