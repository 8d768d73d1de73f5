"""Integers as text in any radix from 2 to 36, at any size the VM allows, without
Python's int/str digit limit and without a Python-level loop per digit: the number is
split in halves by a power of the radix (the divisions run in C) down to pieces small
enough to convert directly.

This module converts; the primitives that print decide what is too big to print.
"""
from __future__ import annotations

import math

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIRECT_BITS = 3000          # pieces this small are converted directly (str() for radix 10)


def integer_text(n: int, radix: int = 10) -> str:
    """The digits of ``n`` in ``radix`` (upper-case letters beyond 9), with a leading
    ``-`` when negative."""
    if not 2 <= radix <= 36:
        raise ValueError(f"radix {radix} is not between 2 and 36")
    if n < 0:
        return "-" + integer_text(-n, radix)
    if radix in _POWER_OF_TWO_FORMATS:
        return format(n, _POWER_OF_TWO_FORMATS[radix]).upper()
    return _halves(n, radix, math.log(2) / math.log(radix))


_POWER_OF_TWO_FORMATS = {2: "b", 8: "o", 16: "x"}     # linear time already


def _halves(n: int, radix: int, digits_per_bit: float) -> str:
    if n.bit_length() <= _DIRECT_BITS:
        return _direct(n, radix)
    low_digits = int(n.bit_length() * digits_per_bit) // 2
    high, low = divmod(n, radix ** low_digits)
    return _halves(high, radix, digits_per_bit) + _halves(low, radix, digits_per_bit).rjust(low_digits, "0")


def _direct(n: int, radix: int) -> str:
    if radix == 10:
        return str(n)              # under Python's digit limit at this size
    out = []
    while n:
        n, digit = divmod(n, radix)
        out.append(DIGITS[digit])
    return "".join(reversed(out)) or "0"
