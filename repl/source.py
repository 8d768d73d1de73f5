"""Reading the hosted language's text as the REPL needs it, without parsing: whether
an input is complete (brackets, parentheses, braces, quotes and comments balanced),
and the receiver and partial word before the cursor, for completion."""
from __future__ import annotations

import re

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}


def is_complete(text: str) -> bool:
    """True when ``text`` has no open string, comment or bracket. A stray closing
    bracket also counts as complete: the compiler will report it."""
    depth: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            i += 1
            while True:
                if i >= n:
                    return False
                if text[i] == "\\":
                    i += 2
                    continue
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return False
            i = end
        elif ch == "$":
            i += 1                              # a character literal: skip the character
        elif ch in _OPEN:
            depth.append(_OPEN[ch])
        elif ch in _CLOSE:
            if depth and depth[-1] == ch:
                depth.pop()
            else:
                return True
        i += 1
    return not depth


def ends_with_period(text: str) -> bool:
    """True when the last token of ``text`` (comments and white space aside) is a
    statement-ending period — not the one of a character literal `$.`, nor one inside
    a string or comment."""
    last = ""
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            end = _string_end(text, i + 1)
            last = "'"
            i = end + 1
            continue
        if ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return False
            i = end + 1
            continue
        if ch == "$":
            last = "$"
            i += 2
            continue
        if not ch.isspace():
            last = ch
        i += 1
    return last == "."


def _string_end(text: str, i: int) -> int:
    """The index of the quote that closes a string whose text starts at ``i`` (or the
    end of the text when it is not closed)."""
    n = len(text)
    while i < n:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            if i + 1 < n and text[i + 1] == "'":
                i += 2
                continue
            return i
        i += 1
    return n


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*:?$|:?$")
_RECEIVER = re.compile(
    r"(-?\d[\w.]*|'(?:[^']|'')*'|#\(|#[A-Za-z0-9_:]+|\$.|[A-Za-z_][A-Za-z0-9_]*|\]|\))\s+$")


def completion_context(before_cursor: str) -> tuple[str | None, str]:
    """(receiver text or None, partial word) at the end of ``before_cursor``. The
    receiver is the literal or identifier just before the partial word, when there
    is one (`3 pr` -> ('3', 'pr')); None means the word starts an expression."""
    word_match = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", before_cursor)
    word = word_match.group(0) if word_match else ""
    rest = before_cursor[:len(before_cursor) - len(word)]
    if rest.rstrip().endswith(";"):
        return "", word                         # a cascade: a message to a receiver we cannot type
    if not rest.strip() or rest.rstrip()[-1:] in "(.[|^=:{" or rest.rstrip().endswith(":="):
        return None, word
    receiver = _RECEIVER.search(rest)
    if receiver is None:
        return "", word                         # after an expression we cannot type
    token = receiver.group(1)
    if token in ("]", ")"):
        return "", word
    return token, word
