"""Source text -> AST, with lark's LALR parser (built once per process and cached on
disk by lark) and a transformer that runs during parsing, so deep nesting never
recurses in Python.

Every failure is a ``SmalltalkSyntaxError`` carrying file, line and column; no other
exception escapes ``parse_*``. This module knows nothing of bytecode or the VM beyond
that error type.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.vm import numtext
from smalltalk_vm.vm.errors import SmalltalkSyntaxError
from smalltalk_vm.vm.text import first_surrogate

GRAMMAR_PATH = os.path.join(os.path.dirname(__file__), "grammar.lark")


class _Located(Exception):
    """A syntax error found by the transformer, at a token."""

    def __init__(self, message: str, token: Token | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = getattr(token, "line", 0) or 0
        self.column = getattr(token, "column", 0) or 0


_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", "0": "\0", "\\": "\\", "'": "'"}
_STRING_PART = re.compile(r"''|\\(.)|[^'\\]+", re.S)


def unescape_string(body: str) -> str:
    """The characters of a string literal's text between its quotes."""
    out = []
    for match in _STRING_PART.finditer(body):
        text = match.group(0)
        if text == "''":
            out.append("'")
        elif text.startswith("\\"):
            ch = match.group(1)
            out.append(_ESCAPES.get(ch, "\\" + ch))
        else:
            out.append(text)
    return "".join(out)


def parse_number(token: Token) -> A.Literal:
    text = str(token)
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    try:
        if "r" in digits:
            radix_text, _, value_text = digits.partition("r")
            radix = numtext.from_text(radix_text) if len(radix_text) <= 3 else 0
            if not 2 <= radix <= 36:
                raise _Located(f"radix {radix_text} out of range 2..36", token)
            try:
                n = numtext.from_text(value_text, radix)
            except numtext.TooLong:
                raise
            except ValueError:
                shown = value_text if len(value_text) <= 40 else value_text[:37] + "..."
                raise _Located(f"'{shown}' is not a number in radix {radix}", token) from None
            return A.Literal("int", -n if negative else n, token.line)
        if "." in digits or "e" in digits or "E" in digits:
            # `1e16` is a Double here (not Smalltalk-80's Integer), so every printed
            # Double reads back as itself.
            return A.Literal("float", float(text), token.line)
        n = numtext.from_text(digits)
    except numtext.TooLong as error:
        raise _Located(f"number literal too long: {error}", token) from None
    return A.Literal("int", -n if negative else n, token.line)


@v_args(inline=True)
class _ToAst(Transformer):
    """Builds AST nodes while the LALR parser reduces."""

    # ---------------------------------------------------------- entry points

    def classdef(self, name, equals, *rest):
        if str(equals) != "=":
            raise _Located("expected '=' after the class name", equals)
        items = list(rest)
        superclass = None
        if items and isinstance(items[0], tuple) and items[0][0] == "superclass":
            superclass = items.pop(0)[1]
        cdef = A.ClassDef(str(name), superclass, line=name.line)
        section = "instance"
        for item in items:
            if isinstance(item, Token):
                continue
            if isinstance(item, tuple) and item[0] == "fields":
                cdef.instance_fields = item[1]
            elif isinstance(item, A.MethodDef):
                cdef.instance_methods.append(item)
            elif isinstance(item, tuple) and item[0] == "class_side":
                cdef.class_fields, cdef.class_methods = item[1], item[2]
                section = "class"
        del section
        return cdef

    def superclass(self, name):
        return ("superclass", str(name))

    def class_side(self, _sep, *items):
        fields: list[str] = []
        methods = []
        for item in items:
            if isinstance(item, tuple) and item[0] == "fields":
                fields = item[1]
            else:
                methods.append(item)
        return ("class_side", fields, methods)

    def fields(self, *tokens):
        return ("fields", [str(t) for t in tokens if t.type == "IDENT"])

    def methoddef(self, class_name, *rest):
        rest = list(rest)
        class_side = False
        if isinstance(rest[0], Token) and rest[0].type == "IDENT":
            word = rest.pop(0)
            if str(word) != "class":
                raise _Located("expected 'class' or '>>' after the class name", word)
            class_side = True
        arrows = rest.pop(0)
        if str(arrows) != ">>":
            raise _Located("expected '>>' in a method definition", arrows)
        return A.MethodDoIt(str(class_name), class_side, rest[0], line=class_name.line)

    def doit(self, *items):
        return A.DoIt(self.body(*items))

    # ---------------------------------------------------------- methods

    def method(self, pattern, equals, body):
        if str(equals) != "=":
            raise _Located("expected '=' after the method pattern", equals)
        selector, params, start, line = pattern
        kind, code, end = body
        mdef = A.MethodDef(selector, params, code, kind != "code", line)
        mdef.source = (start, end)  # replaced by the text slice in the front end
        return mdef

    def code_body(self, lpar, body, rpar):
        return ("code", body, rpar.end_pos)

    def primitive_body(self, word):
        if str(word) != "primitive":
            raise _Located("expected '(' or 'primitive' after '='", word)
        return ("primitive", None, word.end_pos)

    def primitive_fallback_body(self, word, lpar, body, rpar):
        if str(word) != "primitive":
            raise _Located("expected '(' or 'primitive' after '='", word)
        return ("primitive", body, rpar.end_pos)

    def unary_pattern(self, name):
        return (str(name), [], name.start_pos, name.line)

    def binary_pattern(self, op, arg):
        if str(op) == "~>":
            raise _Located("'~>' is reserved for eventual sends", op)
        return (str(op), [str(arg)], op.start_pos, op.line)

    def keyword_pattern(self, *tokens):
        keywords = tokens[0::2]
        params = [str(t) for t in tokens[1::2]]
        return ("".join(str(k) for k in keywords), params, tokens[0].start_pos, tokens[0].line)

    def body(self, *items):
        temps: list[str] = []
        statements: list = []
        for item in items:
            if isinstance(item, tuple) and item[0] == "temps":
                temps = item[1]
            else:
                statements = item
        return A.Body(temps, statements)

    def temps(self, *tokens):
        return ("temps", [str(t) for t in tokens if t.type == "IDENT"])

    def statements(self, *items):
        return [item for item in items if not isinstance(item, Token)]

    def return_stmt(self, caret, expr):
        return A.Return(expr, caret.line)

    def statement(self, expr):
        return expr

    def expression(self, expr):
        return expr

    def assignment(self, name, _assign, value):
        return A.Assign(str(name), value, name.line, name.column)

    def cascade(self, expr):
        return expr

    def cascade_expr(self, first, *parts):
        if not isinstance(first, A.Send):
            raise _Located("a cascade needs a message before ';'", parts[0] if parts else None)
        messages = [[A.Message(first.selector, first.args, first.line)]]
        messages.extend(p for p in parts if not isinstance(p, Token))
        return A.Cascade(first.receiver, messages, first.line)

    def keyword_expr(self, expr):
        return expr

    def keyword_send(self, receiver, msg):
        selector, args, line = msg
        return A.Send(receiver, selector, args, line)

    def keyword_msg(self, *items):
        keywords = items[0::2]
        args = list(items[1::2])
        return ("".join(str(k) for k in keywords), args, keywords[0].line)

    def eventual_send(self, receiver, arrow, msg):
        selector, args = msg
        return A.EventualSend(receiver, selector, args, arrow.line)

    def eventual_unary(self, name):
        return (str(name), [])

    def eventual_binary(self, op, arg):
        return (str(op), [arg])

    def eventual_keyword(self, msg):
        return (msg[0], msg[1])

    def binary_expr(self, expr):
        return expr

    def binary_send(self, receiver, op, arg):
        return A.Send(receiver, str(op), [arg], op.line)

    def unary_expr(self, expr):
        return expr

    def unary_send(self, receiver, name):
        return A.Send(receiver, str(name), [], name.line)

    def cascade_part(self, *messages):
        chain = []
        for m in messages:
            if isinstance(m, tuple):
                chain.append(A.Message(m[0], m[1], m[2]))
            else:
                chain.append(m)
        return chain

    def unary_sel(self, name):
        return A.Message(str(name), [], name.line)

    def binary_msg(self, op, arg):
        return A.Message(str(op), [arg], op.line)

    def variable(self, name):
        return A.Variable(str(name), name.line, name.column)

    def primary(self, expr):
        return expr

    def parens(self, _l, expr, _r):
        return expr

    def brace_array(self, lbrace, statements, _r):
        for s in statements:
            if isinstance(s, A.Return):
                raise _Located("'^' is not allowed inside { }", lbrace)
        return A.BraceArray(statements, lbrace.line)

    def block(self, lbracket, *items):
        params: list[str] = []
        body = None
        for item in items:
            if isinstance(item, tuple) and item[0] == "params":
                params = item[1]
            elif isinstance(item, A.Body):
                body = item
        return A.Block(params, body, lbracket.line)

    def block_params(self, *tokens):
        return ("params", [str(t)[1:].lstrip() for t in tokens if t.type == "BLOCK_PARAM"])

    # ---------------------------------------------------------- literals

    def literal(self, lit):
        return lit

    def number(self, token):
        return parse_number(token)

    def string(self, token):
        return A.Literal("string", unescape_string(str(token)[1:-1]), token.line)

    def symbol(self, token):
        text = str(token)[1:]
        if text.startswith("'"):
            text = unescape_string(text[1:-1])
        return A.Literal("symbol", text, token.line)

    def character(self, token):
        return A.Literal("char", ord(str(token)[1]), token.line)

    def literal_array(self, start, *items):
        return A.Literal("array", [i for i in items if isinstance(i, A.Literal)], start.line)

    def array_word(self, token):
        word = str(token)
        if token.type == "IDENT" and word in ("true", "false", "nil"):
            return A.Literal(word, None, token.line)
        return A.Literal("symbol", word, token.line)


_TERMINAL_NAMES = {
    "IDENT": "identifier", "KEYWORD": "keyword", "KEYWORDS": "keywords", "BINOP": "binary operator",
    "NUMBER": "number", "STRING": "string", "SYMBOL": "symbol", "CHAR": "character",
    "BAR": "'|'", "ASSIGN": "':='", "LITARRAY": "'#('", "CARET": "'^'", "DOT": "'.'",
    "SEMI": "';'", "LPAR": "'('", "RPAR": "')'", "LBRACKET": "'['", "RBRACKET": "']'",
    "LBRACE": "'{'", "RBRACE": "'}'", "BLOCK_PARAM": "block parameter", "SEPARATOR": "'----'",
    "EVENTUAL": "'~>'", "LAST_VALUE": "'_'", "$END": "end of input",
}

_parser: Lark | None = None
_parser_lock = threading.Lock()


def _get_parser() -> Lark:
    global _parser
    with _parser_lock:
        if _parser is None:
            with open(GRAMMAR_PATH, encoding="utf-8") as handle:
                grammar = handle.read()
            _parser = Lark(grammar, parser="lalr", lexer="contextual",
                           start=["classdef", "methoddef", "doit"], transformer=_ToAst(),
                           cache=True, maybe_placeholders=False)
        return _parser


def _describe_token(token: Token) -> str:
    """A punctuation token by itself (``'.'``), any other by its kind and its text,
    shortened (``identifier 'foo'``)."""
    name = _TERMINAL_NAMES.get(token.type, token.type)
    if name.startswith("'"):
        return name
    text = str(token)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{name} '{text}'"


def _describe_expected(expected: Any) -> str:
    names = sorted({_TERMINAL_NAMES.get(e, e) for e in expected or ()})
    if not names:
        return ""
    if len(names) > 8:
        return ""
    return ", expected " + " or ".join(names)


def _syntax_error(error: Exception, filename: str, text: str) -> SmalltalkSyntaxError:
    if isinstance(error, _Located):
        return SmalltalkSyntaxError(error.message, filename, error.line, error.column)
    if isinstance(error, UnexpectedEOF):
        line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1) + 1
        return SmalltalkSyntaxError("unexpected end of input" + _describe_expected(error.expected),
                                    filename, line, column)
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1) + 1
            what = "unexpected end of input"
        else:
            line, column = error.line, error.column
            what = f"unexpected {_describe_token(token)}"
        return SmalltalkSyntaxError(what + _describe_expected(error.expected), filename, line, column)
    if isinstance(error, UnexpectedCharacters):
        ch = text[error.pos_in_stream] if 0 <= error.pos_in_stream < len(text) else "?"
        what = "unterminated string or comment" if ch in "'\"" else f"unexpected character {ch!r}"
        return SmalltalkSyntaxError(what, filename, error.line, error.column)
    if isinstance(error, UnexpectedInput):
        return SmalltalkSyntaxError("syntax error", filename, getattr(error, "line", 0), getattr(error, "column", 0))
    return SmalltalkSyntaxError(f"syntax error ({type(error).__name__})", filename, 0, 0)


def _parse(text: str, start: str, filename: str) -> Any:
    surrogate = first_surrogate(text)
    if surrogate >= 0:
        # Text decoded with surrogateescape (a command line, a terminal) holds bytes
        # that were not UTF-8: no String or Character may be made of them (vm.text).
        line = text.count("\n", 0, surrogate) + 1
        column = surrogate - (text.rfind("\n", 0, surrogate) + 1) + 1
        raise SmalltalkSyntaxError("not UTF-8 text", filename, line, column)
    parser = _get_parser()
    try:
        return parser.parse(text, start=start)
    except (_Located, LarkError) as error:
        raise _syntax_error(error, filename, text) from None
    except RecursionError:
        raise SmalltalkSyntaxError("expression nested too deeply", filename, 1, 1) from None


def _attach_sources(methods: list[A.MethodDef], text: str) -> None:
    for m in methods:
        start, end = m.source
        m.source = text[start:end]


def parse_class(text: str, filename: str = "<input>") -> A.ClassDef:
    cdef = _parse(text, "classdef", filename)
    _attach_sources(cdef.instance_methods, text)
    _attach_sources(cdef.class_methods, text)
    return cdef


def parse_method_doit(text: str, filename: str = "<input>") -> A.MethodDoIt:
    mdoit = _parse(text, "methoddef", filename)
    _attach_sources([mdoit.method], text)
    return mdoit


def parse_doit(text: str, filename: str = "<input>") -> A.DoIt:
    return _parse(text, "doit", filename)


_CLASS_HEADER = re.compile(r'^(?:\s|"[^"]*")*[A-Za-z]\w*\s*=\s*(?:[A-Za-z]\w*\s*)?\(')
_METHOD_HEADER = re.compile(r'^(?:\s|"[^"]*")*[A-Za-z]\w*(?:\s+class)?\s*>>')


def classify_input(text: str) -> str:
    """Which kind of do-it ``text`` looks like: 'class', 'method' or 'statements'."""
    if _METHOD_HEADER.match(text):
        return "method"
    if _CLASS_HEADER.match(text):
        return "class"
    return "statements"


def parse_input(text: str, filename: str = "<input>") -> Any:
    """A do-it of any of the three forms (LANGUAGE.md §5). Text that looks like a class
    or method definition but does not parse as one is tried as statements, and the
    definition's error is reported if that fails too."""
    kind = classify_input(text)
    if kind == "statements":
        return parse_doit(text, filename)
    parse: Callable[[str, str], Any] = parse_class if kind == "class" else parse_method_doit
    try:
        return parse(text, filename)
    except SmalltalkSyntaxError as definition_error:
        try:
            return parse_doit(text, filename)
        except SmalltalkSyntaxError:
            raise definition_error from None
