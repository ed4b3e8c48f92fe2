"""parse(): every syntax, and every error with its column, caret and hint."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.query import (
    And,
    Field,
    Near,
    Not,
    Or,
    Phrase,
    QueryError,
    Term,
    Wildcard,
    describe,
    parse,
)  # fmt: skip


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("boycott", Term("boycott")),
        ('"service client"', Phrase(("service", "client"))),
        ('"service client"~5', Phrase(("service", "client"), slop=5)),
        ("acme boycott", And((Term("acme"), Term("boycott")))),
        ("acme AND boycott", And((Term("acme"), Term("boycott")))),
        ("acme OR orange", Or((Term("acme"), Term("orange")))),
        ("acme NOT job", And((Term("acme"), Not(Term("job"))))),
        ("acme -job", And((Term("acme"), Not(Term("job"))))),
        ("-(a OR b)", Not(Or((Term("a"), Term("b"))))),
        ("a OR b c", Or((Term("a"), And((Term("b"), Term("c")))))),
        ("(a OR b) c", And((Or((Term("a"), Term("b"))), Term("c")))),
        ("NOT a b", And((Not(Term("a")), Term("b")))),
        ("a AND b AND c", And((Term("a"), Term("b"), Term("c")))),
        ("boycott*", Wildcard("boycott*")),
        ("colo?r", Wildcard("colo?r")),
        ("#boycott*", Wildcard("#boycott*")),
        ("a NEAR/5 b", Near(Term("a"), Term("b"), 5)),
        ("a NEAR/5f b", Near(Term("a"), Term("b"), 5, ordered=True)),
        ('"service client" NEAR/3 acme', Near(Phrase(("service", "client")), Term("acme"), 3)),
        ("(a OR b) NEAR/2 c", Near(Or((Term("a"), Term("b"))), Term("c"), 2)),
        ("a NEAR/2 b c", And((Near(Term("a"), Term("b"), 2), Term("c")))),
        ("{Orange}", Term("Orange", case_sensitive=True)),
        ("#boycott", Term("#boycott")),
        ("@acme", Term("@acme")),
        ("🔥", Term("🔥")),
        ("l'entreprise", Phrase(("l", "entreprise"))),
        ("e-commerce", Phrase(("e", "commerce"))),
        ("a and b or c", And(tuple(Term(w) for w in ("a", "and", "b", "or", "c")))),
        ("near/5", Phrase(("near", "5"))),
        ("lang:fr", Field("lang", "=", "fr")),
        ("source:bluesky", Field("source", "=", "bluesky")),
        ("author:@acme", Field("author", "=", "@acme")),
        ("site:example.com", Field("site", "=", "example.com")),
        ("url:/blog/", Field("url", "=", "/blog/")),
        ("title:rappel", Field("title", "=", "rappel")),
        ('title:"rappel produit"', Field("title", "=", "rappel produit")),
        ("followers:>1000", Field("followers", ">", "1000")),
        ("followers:<=50", Field("followers", "<=", "50")),
        ("verified:true", Field("verified", "=", "true")),
        ("Lang:fr", Field("lang", "=", "fr")),
    ],
)
def test_parses(query: str, tree: object) -> None:
    assert parse(query) == tree


def test_positions_are_kept() -> None:
    node = parse("acme  -job")
    assert isinstance(node, And)
    assert node.children[1].pos == 6
    assert isinstance(node.children[1], Not)
    assert node.children[1].child.pos == 7


@pytest.mark.parametrize(
    ("query", "column", "message", "hint"),
    [
        ("", 0, "empty", "at least one word"),
        ("   ", 0, "empty", "at least one word"),
        ("(acme OR orange", 0, "never closed", "add ')' or remove '('"),
        ("acme (a OR (b)", 5, "never closed", "add ')'"),
        ("acme)", 4, "closes nothing", "remove ')'"),
        ("acme AND", 5, "AND needs a term after it", "add a term after AND"),
        ("acme OR", 5, "OR needs a term after it", "add a term after OR"),
        ("acme NOT", 5, "NOT needs a term after it", "add a term"),
        ("AND acme", 0, "AND needs a term before it", "remove it"),
        ("acme AND OR b", 9, "OR cannot follow AND", "remove one"),
        ("a NEAR/x b", 2, "proximity", "NEAR needs a number: NEAR/5"),
        ("a NEAR b", 2, "proximity", "NEAR needs a number: NEAR/5"),
        ("a NEAR/5", 2, "NEAR needs a term after it", "add a term"),
        ("a NEAR/3 NOT b", 9, "negated", "outside"),
        ("a NEAR/3 lang:fr", 9, "NEAR links words", "outside"),
        ("acme NEAR/3 🔥", 12, "emoji", "AND"),
        ('"service client', 0, "quote is never closed", "closing '\"'"),
        ('"a b"~x', 5, "'~' needs a number", '"service client"~5'),
        ("{Orange", 0, "never closed", "closing '}'"),
        ("{ }", 0, "holds no word", "{Orange}"),
        ("()", 0, "parentheses are empty", "inside"),
        ("foo:bar", 0, "unknown field 'foo:'", "Known fields: author, followers"),
        ("acme lnag:fr", 5, "unknown field 'lnag:'", "did you mean 'lang:'?"),
        ("https://acme.com", 0, "unknown field 'https:'", 'quotes: "https://acme.com"'),
        ("followers:>many", 0, "not a number", "followers:>1000"),
        ("lang:>fr", 0, "does not compare", "lang:fr"),
        ("lang:français", 0, "not a language code", "lang:fr"),
        ("verified:maybe", 0, "not true or false", "verified:true"),
        ("lang:", 0, "needs a value", "lang:fr"),
        ("*", 0, "no letters", "boycott*"),
        ("l'entre*", 0, "one word", "boycott*"),
        ("!!!", 0, "no letters or digits", "remove it"),
        ('""', 0, "phrase holds no word", "between the quotes"),
        ("acme }", 5, "closes nothing", "remove '}'"),
        ("a:}", 0, "unknown field", "Known fields"),
        ("lang:)", 0, "needs a value", "lang:fr"),
    ],
)
def test_errors(query: str, column: int, message: str, hint: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    err = info.value
    assert err.column == column
    assert message in err.message
    assert hint in err.suggestion
    lines = str(err).splitlines()
    assert lines[0].endswith(f"(column {column + 1})")
    assert lines[1] == f"  {query}"
    assert lines[2] == "  " + " " * column + "^"
    assert lines[3].startswith("hint: ")
    assert isinstance(err, ValueError)


def test_describe() -> None:
    tree = describe(parse('acme ("service client"~2 OR rembours*) -#spam lang:fr a NEAR/3f b'))
    assert tree == "\n".join(
        [
            "AND",
            "  TERM acme",
            "  OR",
            '    PHRASE "service client"~2',
            "    WILDCARD rembours*",
            "  NOT",
            "    HASHTAG #spam",
            "  FIELD lang:fr",
            "  NEAR/3 (in order)",
            "    TERM a",
            "    TERM b",
        ]
    )


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=4),
            st.sampled_from(
                ["AND", "OR", "NOT", "NEAR/2", "(", ")", '"', "-", "*", "lang:", "}", "{"]
            ),
            st.sampled_from(["acme", "{Orange}", "#tag", "@h", "🔥", "l'x", "~2", " ", " "]),
        ),
        max_size=10,
    ).map("".join)
)
def test_any_input_parses_or_raises_query_error(query: str) -> None:
    error: QueryError | None = None
    try:
        describe(parse(query))
    except QueryError as err:
        error = err
    if error is not None:
        assert 0 <= error.column <= len(query)
        assert error.suggestion
