"""Text at the VM's edges: which code points are Characters, and the one policy for lone
surrogates (U+D800..U+DFFF, which are not characters and cannot be written as UTF-8).

The rules:
- A Character is a Unicode scalar value: 0..0x10FFFF except the surrogates. Making one
  from anything else is refused with an Error (``Integer>>asCharacter``,
  ``Character class>>value:``), and so is a Character arriving over the wire.
- Strings are built from Characters, from UTF-8 read strictly (files, the wire) and from
  source text, which the compiler refuses when it holds a lone surrogate (a command line
  or terminal decoded with ``surrogateescape`` can produce one). So no String holds one.
- Output escapes them anyway (``\\ud800`` to ``\\udfff``, four hex digits), so that printing can never fail on one.

This module only answers questions about text; it makes no VM values.
"""
from __future__ import annotations

import re

from smalltalk_vm.vm.numtext import brief

MAX_CODE_POINT = 0x10FFFF
_SURROGATE = re.compile("[\ud800-\udfff]")


def code_point_problem(n: int) -> str | None:
    """Why ``n`` cannot be a Character, or None when it can."""
    if not 0 <= n <= MAX_CODE_POINT:
        return f"{brief(n)} is not a Unicode code point (0 to {MAX_CODE_POINT})"
    if 0xD800 <= n <= 0xDFFF:
        return f"{n} is a surrogate code point, not a character"
    return None


def first_surrogate(text: str) -> int:
    """The index of the first lone surrogate in ``text``, or -1."""
    if text.isascii():
        return -1
    found = _SURROGATE.search(text)
    return -1 if found is None else found.start()


def escape_surrogates(text: str) -> str:
    """``text`` with every lone surrogate written as its escape, such as ``\\udc80``: always encodable."""
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
