"""A Pygments lexer for the hosted language (SOM Smalltalk, extended), for the REPL's
syntax highlighting."""
from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)


class SomLexer(RegexLexer):
    name = "SOM Smalltalk"
    aliases = ["som", "smalltalk-som"]
    filenames = ["*.som"]

    tokens = {
        "root": [
            (r'"[^"]*"', Comment),
            (r"\s+", Whitespace),
            (r"'(?:[^'\\]|''|\\.)*'", String),
            (r"\$.", String.Char),
            (r"#'(?:[^'\\]|''|\\.)*'", String.Symbol),
            (r"#(?:[A-Za-z][A-Za-z0-9_:]*|[~&|*/\\+=><,@%-]+)", String.Symbol),
            (r"#\(", Punctuation),
            (r"-?\d+r[0-9A-Za-z]+", Number.Integer),
            (r"-?\d+(?:\.\d+)?[eE][-+]?\d+", Number.Float),
            (r"-?\d+\.\d+", Number.Float),
            (r"-?\d+", Number.Integer),
            (r"\b(self|super|nil|true|false|thisContext)\b", Keyword.Pseudo),
            (r"__?(?![A-Za-z0-9_])", Keyword.Pseudo),    # the REPL's last values
            (r"\b(primitive)\b", Keyword),
            (r"[A-Za-z][A-Za-z0-9_]*:(?!=)", Name.Function),
            (r"(:)([A-Za-z][A-Za-z0-9_]*)", bygroups(Punctuation, Name.Variable)),
            (r"[A-Z][A-Za-z0-9_]*", Name.Class),
            (r"[a-z_][A-Za-z0-9_]*", Name),
            (r"~>", Keyword),
            (r":=|\^", Operator),
            (r"-{4,}", Punctuation),
            (r"[~&|*/\\+=><,@%-]+", Operator),
            (r"[()\[\]{}.;]", Punctuation),
            (r".", Text),
        ],
    }
