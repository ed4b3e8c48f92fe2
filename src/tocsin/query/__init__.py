"""The Boolean query language: parse a query, match it against mentions, explain why.

>>> from tocsin.query import Document, matches, parse
>>> matches(parse('acme AND ("service client" OR remboursement)'),
...         Document.from_text("Le Service Client d'ACME ne répond pas"))
True
"""

from tocsin.query.ast import And, Field, Near, Node, Not, Or, Phrase, Term, Wildcard
from tocsin.query.evaluate import Document, describe, explain, matches
from tocsin.query.matcher import Matcher
from tocsin.query.parser import FIELDS, QueryError, parse
from tocsin.query.text import Tokens, fold, tokenize

__all__ = [
    "FIELDS",
    "And",
    "Document",
    "Field",
    "Matcher",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "QueryError",
    "Term",
    "Tokens",
    "Wildcard",
    "describe",
    "explain",
    "fold",
    "matches",
    "parse",
    "tokenize",
]
