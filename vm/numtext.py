"""The text of Integers of any size, in any radix 2..36: printing and reading.

The rules:

- Python's own ``str(int)``/``int(str)`` refuse more than 4,300 digits in a radix that is
  not a power of two (``sys.int_max_str_digits``), because CPython converts in
  quadratic time. That limit stays as it is for the rest of the process; Integer text
  goes through here instead, with divide-and-conquer conversions (decimal printing
  through the ``decimal`` module's fast multiplication) that handle a million digits
  in well under a second.
- A bound remains, because even a fast conversion of a huge number holds the VM thread
  (each conversion here stays under about half a second on a 2020s machine): at most
  ``MAX_DIGITS`` digits are read, and numbers of at most ``MAX_BITS`` bits (a million
  decimal digits) are printed — ``MAX_BITS_SLOW_RADIX`` in a radix that is neither 10
  nor a power of two, where printing needs long division, which is quadratic in
  CPython. Beyond that ``TooLong`` is raised, which callers turn into a Smalltalk
  error.
- Digits are ASCII ``0-9A-Z`` (either case when reading); a sign is the caller's job.

This module converts numbers to text and back; it knows nothing about VM values.
"""
from __future__ import annotations

import decimal

MAX_DIGITS = 1_000_000
MAX_BITS = 3_321_929            # bits of a number of MAX_DIGITS decimal digits
MAX_BITS_SLOW_RADIX = 1 << 20   # 1,048,576 bits: about 0.5 s for the biggest in radix 7
DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CHUNK = 2000                   # digits Python converts directly (below its own limit)
_POWER_OF_TWO_BITS = {2: 1, 4: 2, 8: 3, 16: 4, 32: 5}
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                         traps=[decimal.Inexact, decimal.Overflow])


class TooLong(ValueError):
    """The number, or its text, is beyond MAX_DIGITS."""


def to_text(n: int, radix: int = 10) -> str:
    """The digits of ``n`` in ``radix`` (2..36), with a leading ``-`` when negative."""
    bits = _POWER_OF_TWO_BITS.get(radix)
    limit = MAX_BITS if radix == 10 or bits is not None else MAX_BITS_SLOW_RADIX
    if n.bit_length() > limit:
        raise TooLong(f"an Integer of {n.bit_length()} bits is too large to print in radix {radix} "
                      f"(the limit is {limit} bits)")
    sign = "-" if n < 0 else ""
    n = abs(n)
    if radix == 10:
        return sign + (str(n) if n.bit_length() <= 4 * _CHUNK else _decimal_digits(n))
    if bits is not None:
        return sign + _power_of_two_digits(n, bits)
    return sign + _radix_digits(n, radix)


def brief(n: int) -> str:
    """``n`` for a message: its digits when short, its size when not (error messages
    must never fail, nor grow without bound, for a huge Integer)."""
    if n.bit_length() <= 256:
        return str(n)
    return f"{'-' if n < 0 else ''}<an Integer of {n.bit_length()} bits>"


def from_text(text: str, radix: int = 10) -> int:
    """The value of ``text``: digits of ``radix`` only (no sign, no spaces, no ``_``).
    ValueError (TooLong when too long) if it is not that."""
    # ASCII letters and digits only; int() then refuses a digit too big for the radix
    if not text or not (text.isascii() and text.isalnum()):
        raise ValueError(f"not a number in radix {radix}")
    if len(text) > MAX_DIGITS:
        raise TooLong(f"{len(text)} digits are too many to read (the limit is {MAX_DIGITS})")
    if len(text) <= _CHUNK or radix in _POWER_OF_TWO_BITS:
        return int(text, radix)            # within Python's limit, or linear and unlimited
    powers: dict[int, int] = {}

    def value(start: int, end: int) -> int:
        if end - start <= _CHUNK:
            return int(text[start:end], radix)
        low_digits = (end - start) // 2
        middle = end - low_digits
        power = powers.get(low_digits)
        if power is None:
            power = powers[low_digits] = radix ** low_digits
        return value(start, middle) * power + value(middle, end)

    return value(0, len(text))


def _decimal_digits(n: int) -> str:
    """Decimal digits of a large ``n`` >= 0: rebuild it as a Decimal from halves of its
    bits (n = high * 2^w + low), then print the Decimal, which is linear."""
    powers: dict[int, decimal.Decimal] = {}

    def as_decimal(m: int, width: int) -> decimal.Decimal:
        if width <= 4 * _CHUNK:
            return decimal.Decimal(m)
        low_width = width >> 1
        high = m >> low_width
        low = m - (high << low_width)
        power = powers.get(low_width)
        if power is None:
            power = powers[low_width] = _EXACT.power(decimal.Decimal(2), low_width)
        return _EXACT.add(_EXACT.multiply(as_decimal(high, width - low_width), power),
                          as_decimal(low, low_width))

    return format(as_decimal(n, n.bit_length()), "f")


def _power_of_two_digits(n: int, bits: int) -> str:
    if bits in (1, 3, 4):
        return format(n, {1: "b", 3: "o", 4: "X"}[bits])
    # radix 4 and 32: regroup the binary digits
    binary = format(n, "b")
    binary = "0" * (-len(binary) % bits) + binary
    return "".join(DIGITS[int(binary[i:i + bits], 2)] for i in range(0, len(binary), bits))


def _radix_digits(n: int, radix: int) -> str:
    """Digits of ``n`` >= 0 in a radix that is not a power of two: split by a power of
    the radix, recursively, and pad every lower half to its full width."""
    powers: dict[int, int] = {}

    def power(k: int) -> int:
        found = powers.get(k)
        if found is None:
            found = powers[k] = radix ** k
        return found

    def small(m: int, width: int) -> str:
        out = []
        while m:
            m, d = divmod(m, radix)
            out.append(DIGITS[d])
        return "".join(reversed(out)).rjust(width, "0")

    def digits(m: int, count: int, width: int) -> str:
        """m < radix**count; padded to ``width`` digits (0: not padded)."""
        if count <= 64:
            return small(m, width)
        low_count = count // 2
        high, low = divmod(m, power(low_count))
        if high == 0 and not width:
            return digits(low, low_count, 0)
        return digits(high, count - low_count, max(width - low_count, 0)) + digits(low, low_count, low_count)

    count = 1
    while power(count) <= n:
        count *= 2
    return digits(n, count, 0) or "0"
