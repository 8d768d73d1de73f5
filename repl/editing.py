"""The interactive REPL's editing rules, terminal side, as pure functions over the text
being typed: when Enter runs the input, how a new line is indented, and what the
completion menu offers.

- Enter runs the input when it is complete (``source.is_complete``: brackets, strings
  and comments closed) and its last statement is not waiting for a keyword's argument:
  it does not end in a keyword (`3 max:`) or an assignment (`x :=`), and its keywords so
  far are not just the start of a known selector (`#(1 2 3) inject: 0` waits for
  `into:`). Enter on an empty last line runs what is there regardless, so a selector the
  rule did not expect can still be sent. A `:` command always runs.
- A new line inside open brackets is indented two spaces per bracket; a closing bracket
  typed first on a line takes one level back.
- While typing, the menu opens only after the start of a name (a letter or `_`, not
  after a space or `.`); Tab always opens it. Selectors starting with `prim` (the
  library's primitive plumbing) are left out unless the word typed starts with `prim`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from smalltalk_vm.repl.source import is_complete

_OPEN = "([{"
_CLOSE = ")]}"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(:(?!=))?")
_NUMBER = re.compile(r"\d+(?:r[0-9A-Za-z]+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")
_NAME_PREFIX = re.compile(r"(?<![A-Za-z0-9_.])[A-Za-z_][A-Za-z0-9_]*$")


def enter_runs(text: str, selectors: Iterable[str] = ()) -> bool:
    """Whether Enter runs ``text`` (else it starts a new line of the same input)."""
    stripped = text.strip()
    if not stripped or stripped.startswith(":"):
        return True
    if not is_complete(text):
        return False
    if text.rstrip(" \t").endswith("\n"):
        return True                    # Enter on an empty line: run it as it is
    return not waiting_for_argument(text, selectors)


def waiting_for_argument(text: str, selectors: Iterable[str] = ()) -> bool:
    """True when the last statement of ``text`` ends in a keyword or `:=`, or its
    keywords (outside brackets) are a proper prefix of a known selector but not one."""
    keywords, last = _last_statement_keywords(text)
    if last in ("keyword", "assign"):
        return True
    if not keywords:
        return False
    selector = "".join(keywords)
    known = set(selectors)
    if selector in known:
        return False
    return any(candidate.startswith(selector) for candidate in known)


def _last_statement_keywords(text: str) -> tuple[list[str], str]:
    """The keywords of the last statement's message at bracket depth 0 (its last
    cascade part), and the kind of its last token ('keyword', 'assign' or 'other')."""
    keywords: list[str] = []
    last = "other"
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            i = _skip_string(text, i + 1)
            last = "other"
            continue
        if ch == '"':
            end = text.find('"', i + 1)
            i = n if end < 0 else end + 1
            continue
        if ch == "$":
            i += 2
            last = "other"
            continue
        if ch.isspace():
            i += 1
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0 and ch in ".;^":
            keywords = []
        elif ch == ":" and text.startswith(":=", i):
            if depth == 0:
                keywords = []
            last = "assign"
            i += 2
            continue
        elif "0" <= ch <= "9":
            i = _NUMBER.match(text, i).end()
            last = "other"
            continue
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            match = _WORD.match(text, i)
            word = match.group(0)
            i = match.end()
            is_keyword = word.endswith(":")
            if depth == 0 and is_keyword:
                keywords.append(word)
            last = "keyword" if is_keyword else "other"
            continue
        last = "other"
        i += 1
    return keywords, last


def _skip_string(text: str, i: int) -> int:
    """The index after the quote that closes the string whose text starts at ``i``;
    one past the end of ``text`` when the string is not closed."""
    n = len(text)
    while i < n:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            if i + 1 < n and text[i + 1] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    return n + 1


def indentation(text_before_cursor: str) -> str:
    """The indentation of a new line started at the cursor: two spaces for each bracket
    open there (outside strings and comments)."""
    depth = 0
    i = 0
    n = len(text_before_cursor)
    while i < n:
        ch = text_before_cursor[i]
        if ch == "'":
            i = _skip_string(text_before_cursor, i + 1)
            if i > n:
                return ""                  # a new line inside a string is part of it
            continue
        if ch == '"':
            end = text_before_cursor.find('"', i + 1)
            if end < 0:
                return ""
            i = end + 1
            continue
        if ch == "$":
            i += 2
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        i += 1
    return "  " * depth


def dedent_before_closing(line_before_cursor: str) -> int:
    """How many spaces to take back before a closing bracket typed at ``line_before_cursor``:
    one level (two) when the line holds only its indentation so far."""
    if line_before_cursor and not line_before_cursor.strip(" "):
        return min(2, len(line_before_cursor))
    return 0


def opens_menu_while_typing(text_before_cursor: str) -> bool:
    """Whether the completion menu may open by itself: the cursor is after the start of
    a name (not after a space, a `.`, a digit or other punctuation)."""
    return _NAME_PREFIX.search(text_before_cursor) is not None


def offered(candidates: Iterable[str], word: str) -> list[str]:
    """The candidates that complete ``word``, without the `prim*` plumbing unless the
    word asks for it."""
    hide_primitives = not word.startswith("prim")
    return [name for name in candidates
            if name.startswith(word) and name != word and not (hide_primitives and name.startswith("prim"))]
