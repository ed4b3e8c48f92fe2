"""The query parser: text -> `tocsin.query.ast` tree, with errors people can act on.

A small hand-written lexer and recursive-descent parser (better error messages than a
generated one). Precedence, loosest first: ``OR``, ``AND`` (explicit or implicit between
adjacent terms), ``NOT`` / ``-``, ``NEAR/n``; parentheses group. Operators are upper-case
keywords; ``and``, ``or``, ``near/5`` in lower case are plain words.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from tocsin.query.ast import And, Field, Near, Node, Not, Or, Phrase, Term, Wildcard
from tocsin.query.text import is_emoji, raw_words

__all__ = ["FIELDS", "QueryError", "parse"]

FIELDS: dict[str, str] = {
    "author": "author handle, e.g. author:@acme",
    "followers": "author followers, e.g. followers:>1000",
    "lang": "language code, e.g. lang:fr",
    "site": "web site (host or subdomain), e.g. site:example.com",
    "source": "platform, e.g. source:bluesky",
    "title": 'words of the title only, e.g. title:rappel or title:"service client"',
    "url": "part of the address, e.g. url:/blog/",
    "verified": "verified author, verified:true or verified:false",
}
_BOOLEANS = {"true", "false", "yes", "no", "1", "0"}
_NEAR_RE = re.compile(r"NEAR/(\d+)([fF]?)")
_FIELD_RE = re.compile(r"([A-Za-z][A-Za-z_]*):(>=|<=|>|<|=)?")
_STOP = frozenset(' \t\r\n()"{}')
_POSITIONAL = (Term, Wildcard, Phrase, Near)


class QueryError(ValueError):
    """A query that does not parse: `column` (0-based), `message`, `suggestion`.

    ``str()`` shows the message, the query with a caret under the problem, and the fix.
    """

    def __init__(self, query: str, column: int, message: str, suggestion: str = "") -> None:
        self.query = query
        self.column = column
        self.message = message
        self.suggestion = suggestion
        super().__init__(self.__str__())

    def __str__(self) -> str:
        lines = [f"{self.message} (column {self.column + 1})", f"  {self.query}"]
        lines.append("  " + " " * self.column + "^")
        if self.suggestion:
            lines.append(f"hint: {self.suggestion}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE BRACE FIELD LPAREN RPAREN AND OR NOT MINUS NEAR EOF
    pos: int
    text: str = ""
    slop: int = 0
    name: str = ""
    op: str = "="


class _Lexer:
    """Turns the query text into `_Tok`s; raises `QueryError` on unclosed quotes/braces."""

    def __init__(self, query: str) -> None:
        self.q = query
        self.i = 0

    def error(self, column: int, message: str, suggestion: str) -> QueryError:
        return QueryError(self.q, column, message, suggestion)

    def tokens(self) -> list[_Tok]:
        out: list[_Tok] = []
        while True:
            tok = self.next()
            out.append(tok)
            if tok.kind == "EOF":
                return out

    def next(self) -> _Tok:
        q = self.q
        while self.i < len(q) and q[self.i].isspace():
            self.i += 1
        if self.i >= len(q):
            return _Tok("EOF", len(q))
        start, ch = self.i, q[self.i]
        if ch in "()":
            self.i += 1
            return _Tok("LPAREN" if ch == "(" else "RPAREN", start)
        if ch == '"':
            text, slop = self.quoted(start)
            return _Tok("PHRASE", start, text, slop)
        if ch == "{":
            return _Tok("BRACE", start, self.braced(start))
        if ch == "}":
            raise self.error(start, "this '}' closes nothing", "remove '}' or add '{' before it")
        if ch == "-" and start + 1 < len(q) and q[start + 1] not in _STOP - {'"', "(", "{"}:
            self.i += 1
            return _Tok("MINUS", start)
        return self.word(start)

    def until(self, start: int, close: str, what: str, fix: str) -> str:
        end = self.q.find(close, start + 1)
        if end < 0:
            raise self.error(start, f"this {what} is never closed", fix)
        self.i = end + 1
        return self.q[start + 1 : end]

    def quoted(self, start: int) -> tuple[str, int]:
        text = self.until(start, '"', "quote", "add the closing '\"' or remove the opening one")
        if self.i < len(self.q) and self.q[self.i] == "~":
            m = re.match(r"~(\d+)", self.q[self.i :])
            if not m:
                raise self.error(self.i, "'~' needs a number", 'write "service client"~5')
            self.i += m.end()
            return text, int(m.group(1))
        return text, 0

    def braced(self, start: int) -> str:
        text = self.until(start, "}", "'{'", "add the closing '}' or remove the '{'")
        if not text.strip():
            raise self.error(start, "'{}' holds no word", "write a case-sensitive word: {Orange}")
        return text.strip()

    def bare(self) -> str:
        start = self.i
        while self.i < len(self.q) and self.q[self.i] not in _STOP:
            self.i += 1
        if self.i == start:  # never stall on a character no rule consumes
            raise self.error(start, f"unexpected {self.q[start]!r}", "remove it")
        return self.q[start : self.i]

    def word(self, start: int) -> _Tok:
        m = _FIELD_RE.match(self.q, start)
        if m and m.group(1).lower() in FIELDS:
            return self.field(start, m)
        text = self.bare()
        if text in ("AND", "OR", "NOT"):
            return _Tok(text, start, text)
        if text == "NEAR" or text.startswith("NEAR/"):
            near = _NEAR_RE.fullmatch(text)
            if not near:
                raise self.error(
                    start,
                    f"'{text}' is not a valid proximity operator",
                    "NEAR needs a number: NEAR/5 (or NEAR/5f for in order)",
                )
            return _Tok("NEAR", start, near.group(2).lower(), int(near.group(1)))
        if m:
            raise self.unknown_field(start, m.group(1), text)
        return _Tok("WORD", start, text)

    def unknown_field(self, start: int, name: str, text: str) -> QueryError:
        close = difflib.get_close_matches(name.lower(), list(FIELDS), n=1)
        hint = f"did you mean '{close[0]}:'? " if close else ""
        hint += f"Known fields: {', '.join(sorted(FIELDS))}. "
        hint += f'To search the text itself, put it in quotes: "{text}"'
        return self.error(start, f"unknown field '{name}:'", hint)

    def field(self, start: int, m: re.Match[str]) -> _Tok:
        name, op = m.group(1).lower(), m.group(2) or "="
        self.i = m.end()
        if self.i < len(self.q) and self.q[self.i] == '"':
            value = self.until(self.i, '"', "quote", "add the closing '\"'")
        elif self.i < len(self.q) and self.q[self.i] not in _STOP:
            value = self.bare()
        else:
            value = ""
        if not value.strip():
            raise self.error(start, f"'{name}:' needs a value", f"write {FIELDS[name]}")
        _check_field(self, start, name, op, value)
        return _Tok("FIELD", start, value, name=name, op=op)


def _check_field(lexer: _Lexer, start: int, name: str, op: str, value: str) -> None:
    """Reject field values that could never match, naming the expected form."""
    if op != "=" and name != "followers":
        raise lexer.error(
            start,
            f"'{name}:' does not compare with '{op}'",
            f"only followers: takes >, >=, <, <=; write {FIELDS[name]}",
        )
    if name == "followers" and not value.isdigit():
        raise lexer.error(
            start, f"followers:{op}{value} is not a number", "write a whole number: followers:>1000"
        )
    if name == "verified" and value.lower() not in _BOOLEANS:
        raise lexer.error(
            start, f"verified:{value} is not true or false", "write verified:true or verified:false"
        )
    if name == "lang" and not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]+)?", value):
        raise lexer.error(
            start, f"lang:{value} is not a language code", "write a code such as lang:fr or lang:en"
        )
    if name == "title" and not raw_words(value.replace("*", "a").replace("?", "a")):
        raise lexer.error(
            start, f"title:{value} holds no word", 'write title:rappel or title:"a phrase"'
        )


class _Parser:
    """Recursive descent over the lexer's tokens."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.lexer = _Lexer(query)
        self.toks = self.lexer.tokens()
        self.k = 0

    @property
    def peek(self) -> _Tok:
        return self.toks[self.k]

    def take(self) -> _Tok:
        tok = self.toks[self.k]
        self.k += 1
        return tok

    def error(self, column: int, message: str, suggestion: str) -> QueryError:
        return QueryError(self.query, column, message, suggestion)

    def parse(self) -> Node:
        if self.peek.kind == "EOF":
            raise self.error(0, "the query is empty", "type at least one word, e.g. acme")
        node = self.parse_or()
        tok = self.peek
        if tok.kind == "RPAREN":
            raise self.error(tok.pos, "this ')' closes nothing", "remove ')' or add '(' before it")
        assert tok.kind == "EOF", tok
        return node

    def need_operand(self, op: _Tok) -> None:
        """After a binary/unary operator there must be something to apply it to."""
        nxt = self.peek
        if nxt.kind in ("EOF", "RPAREN"):
            word = op.kind if op.kind != "MINUS" else "'-'"
            raise self.error(
                op.pos, f"{word} needs a term after it", f"add a term after {word} or remove it"
            )
        if nxt.kind in ("AND", "OR", "NEAR"):
            raise self.error(
                nxt.pos,
                f"{nxt.kind} cannot follow {op.kind}",
                "remove one of them, or put a term between them",
            )

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.peek.kind == "OR":
            op = self.take()
            self.need_operand(op)
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(_flatten(Or, items), pos=items[0].pos)

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while True:
            kind = self.peek.kind
            if kind == "AND":
                op = self.take()
                self.need_operand(op)
            elif kind not in ("WORD", "PHRASE", "BRACE", "FIELD", "LPAREN", "NOT", "MINUS"):
                break
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(_flatten(And, items), pos=items[0].pos)

    def parse_unary(self) -> Node:
        if self.peek.kind in ("NOT", "MINUS"):
            op = self.take()
            self.need_operand(op)
            return Not(self.parse_unary(), pos=op.pos)
        return self.parse_near()

    def parse_near(self) -> Node:
        left = self.parse_primary()
        while self.peek.kind == "NEAR":
            op = self.take()
            self.need_operand(op)
            right = self.parse_primary()
            for side in (left, right):
                _check_positional(self, side, op)
            left = Near(left, right, op.slop, ordered=op.text == "f", pos=op.pos)
        return left

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "LPAREN":
            if self.peek.kind == "RPAREN":
                raise self.error(
                    tok.pos,
                    "these parentheses are empty",
                    "put a term inside the parentheses or remove them",
                )
            node = self.parse_or()
            if self.peek.kind != "RPAREN":
                raise self.error(tok.pos, "this '(' is never closed", "add ')' or remove '('")
            self.take()
            return node
        if tok.kind == "WORD":
            return _word_node(self, tok)
        if tok.kind == "PHRASE":
            return _phrase_node(self, tok)
        if tok.kind == "BRACE":
            return Term(tok.text, case_sensitive=True, pos=tok.pos)
        if tok.kind == "FIELD":
            return Field(tok.name, tok.op, tok.text, pos=tok.pos)
        if tok.kind == "RPAREN":
            raise self.error(tok.pos, "this ')' closes nothing", "remove ')' or add '(' before it")
        if tok.kind in ("NOT", "MINUS"):
            raise self.error(
                tok.pos,
                "NEAR cannot take a negated term",
                "put the exclusion outside: (acme NEAR/5 boycott) NOT spam",
            )
        raise self.error(
            tok.pos,
            f"{tok.kind} needs a term before it",
            f"put a term before {tok.kind} or remove it",
        )


def _flatten(kind: type[And] | type[Or], items: list[Node]) -> tuple[Node, ...]:
    out: list[Node] = []
    for item in items:
        out.extend(item.children if isinstance(item, kind) else (item,))
    return tuple(out)


def _check_positional(parser: _Parser, node: Node, op: _Tok) -> None:
    """NEAR links words, phrases, wildcards, NEARs or OR-groups of those."""
    if isinstance(node, Or):
        for child in node.children:
            _check_positional(parser, child, op)
        return
    if isinstance(node, Term) and is_emoji(node.text):
        raise parser.error(
            node.pos, "NEAR cannot measure distance to an emoji", "use AND with emoji: acme AND 🔥"
        )
    if not isinstance(node, _POSITIONAL):
        raise parser.error(
            node.pos,
            "NEAR links words, phrases or (a OR b) groups",
            "move NOT, AND and field filters outside: (a NEAR/5 b) AND lang:fr",
        )


def _word_node(parser: _Parser, tok: _Tok) -> Node:
    """A bare word: term, #hashtag, @handle, emoji, wildcard, or a phrase (``l'entreprise``)."""
    text = tok.text
    mark = text[0] if text[0] in "#@" else ""
    body = text[len(mark) :]
    if "*" in body or "?" in body:
        probe = raw_words(body.replace("*", "a").replace("?", "a"))
        if not raw_words(body):
            if len(probe) == 1 and body.strip("*?"):
                return Wildcard(text, pos=tok.pos)
            raise parser.error(
                tok.pos, f"'{text}' has no letters to match", "give the start of the word: boycott*"
            )
        if len(probe) != 1:
            raise parser.error(
                tok.pos,
                f"a wildcard applies to one word and '{text}' has several",
                f'keep one word (boycott*), or quote the phrase: "{text}"',
            )
        return Wildcard(text, pos=tok.pos)
    if not mark and is_emoji(text):
        return Term(text, pos=tok.pos)
    words = raw_words(body)
    if not words:
        raise parser.error(
            tok.pos,
            f"'{text}' has no letters or digits to search",
            "remove it, or search a word, #hashtag, @handle or one emoji",
        )
    if len(words) == 1:
        return Term(mark + words[0], pos=tok.pos)
    return Phrase(words, pos=tok.pos)


def _phrase_node(parser: _Parser, tok: _Tok) -> Node:
    words = raw_words(tok.text)
    if not words:
        if is_emoji(tok.text.strip()):
            return Term(tok.text.strip(), pos=tok.pos)
        raise parser.error(
            tok.pos, "this phrase holds no word", 'write words between the quotes: "service client"'
        )
    if len(words) == 1:
        return Term(words[0], pos=tok.pos)
    return Phrase(words, slop=tok.slop, pos=tok.pos)


def parse(text: str) -> Node:
    """Parse a query into its tree; raise `QueryError` (column, caret, hint) if it is wrong."""
    return _Parser(text).parse()
