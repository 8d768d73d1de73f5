"""The NaN-boxed value encoding: the one place that defines what a VM value's 64-bit
word is, and how the in-memory carriers map to it.

Carriers in memory (chosen for CPython speed, see DESIGN.md "Values"):
- immediates (SmallInteger, nil/false/true, Character, Symbol) are Python ``int``s equal
  to their 64-bit word;
- Doubles are Python ``float``s (a non-NaN double is its own box);
- heap objects are Python object references; their boxed form (tag 5) exists only in
  images and on the wire, where the serialiser assigns the index.

This module must not know about classes beyond the table handed to ``make_class_of``,
and must not import any other VM module.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

QNAN = 0x7FF8_0000_0000_0000          # canonical NaN; also the prefix of every tagged word
TAG_SHIFT = 48
PAYLOAD_BITS = 48
PAYLOAD_MASK = (1 << PAYLOAD_BITS) - 1
_TAGGED_TOP13 = QNAN >> 51            # top 13 bits shared by every tagged word

TAG_INT = 1
TAG_SPECIAL = 2
TAG_CHAR = 3
TAG_SYMBOL = 4
TAG_REF = 5
TAG_RESERVED_6 = 6
TAG_RESERVED_7 = 7


def _tag_base(tag: int) -> int:
    return QNAN | (tag << TAG_SHIFT)


# SmallInteger: payload = n + 2^47, so the word order equals the integer order and
# a tagged add is ``a + b - ZERO``.
INT_BASE = _tag_base(TAG_INT)
INT_BIAS = 1 << 47
ZERO = INT_BASE + INT_BIAS
ONE = ZERO + 1
INT_LO = INT_BASE                     # smallest SmallInteger word (n = -2^47)
INT_HI = INT_BASE + (1 << PAYLOAD_BITS)   # one past the largest (n = 2^47 - 1)
SMALL_MIN = -INT_BIAS
SMALL_MAX = INT_BIAS - 1

SPECIAL_BASE = _tag_base(TAG_SPECIAL)
NIL = SPECIAL_BASE + 0
FALSE = SPECIAL_BASE + 1
TRUE = SPECIAL_BASE + 2

CHAR_BASE = _tag_base(TAG_CHAR)
CHAR_LIMIT = CHAR_BASE + 0x110000
SYM_BASE = _tag_base(TAG_SYMBOL)
SYM_LIMIT = SYM_BASE + (1 << PAYLOAD_BITS)
REF_BASE = _tag_base(TAG_REF)

_pack_double = struct.Struct("<d").pack
_unpack_word = struct.Struct("<Q").unpack
_pack_word = struct.Struct("<Q").pack
_unpack_double = struct.Struct("<d").unpack


class ValueEncodingError(ValueError):
    """A 64-bit word that is not a valid VM value (reserved tag, bad payload)."""


# ---------------------------------------------------------------- immediates

def is_small_int(value: Any) -> bool:
    return type(value) is int and INT_LO <= value < INT_HI


def fits_small(n: int) -> bool:
    return SMALL_MIN <= n <= SMALL_MAX


def small_int(n: int) -> int:
    """The word of SmallInteger ``n`` (caller guarantees ``fits_small(n)``)."""
    return n + ZERO


def small_int_value(word: int) -> int:
    return word - ZERO


def char_word(code_point: int) -> int:
    if not 0 <= code_point < 0x110000:
        raise ValueEncodingError(f"code point out of range: {code_point}")
    return CHAR_BASE + code_point


def char_code(word: int) -> int:
    return word - CHAR_BASE


def is_char(value: Any) -> bool:
    return type(value) is int and CHAR_BASE <= value < CHAR_LIMIT


def symbol_word(index: int) -> int:
    return SYM_BASE + index


def symbol_index(word: int) -> int:
    return word - SYM_BASE


def is_symbol(value: Any) -> bool:
    return type(value) is int and SYM_BASE <= value < SYM_LIMIT


def is_boolean(value: Any) -> bool:
    return type(value) is int and (value == TRUE or value == FALSE)


def from_bool(flag: bool) -> int:
    return TRUE if flag else FALSE


def ref_word(index: int) -> int:
    """The tag-5 word of the heap object a serialiser numbered ``index``."""
    if not 0 <= index <= PAYLOAD_MASK:
        raise ValueEncodingError(f"heap reference index out of range: {index}")
    return REF_BASE + index


def tag_of(word: int) -> int:
    """The tag (0 for a double) of a 64-bit word."""
    if word >> 51 != _TAGGED_TOP13:
        return 0
    return (word >> TAG_SHIFT) & 7


# ---------------------------------------------------------------- box / unbox

def box(value: Any, ref_index: Callable[[Any], int] | None = None) -> int:
    """The 64-bit word of an in-memory value. Heap objects need ``ref_index``."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        if math.isnan(value):
            return QNAN
        return _unpack_word(_pack_double(value))[0]
    if ref_index is None:
        raise ValueEncodingError("a heap object has no word without a serialiser's index")
    return ref_word(ref_index(value))


def unbox(word: int, resolve_ref: Callable[[int], Any] | None = None) -> Any:
    """The in-memory value of a 64-bit word. Tag-5 words need ``resolve_ref``."""
    if not 0 <= word < (1 << 64):
        raise ValueEncodingError(f"not a 64-bit word: {word}")
    if word >> 51 != _TAGGED_TOP13:
        return _unpack_double(_pack_word(word))[0]
    tag = (word >> TAG_SHIFT) & 7
    payload = word & PAYLOAD_MASK
    if tag == 0:
        if payload:
            raise ValueEncodingError(f"non-canonical NaN word {word:#018x}")
        return math.nan
    if tag == TAG_INT:
        return word
    if tag == TAG_SPECIAL:
        if payload > 2:
            raise ValueEncodingError(f"unknown special value {payload}")
        return word
    if tag == TAG_CHAR:
        if payload >= 0x110000:
            raise ValueEncodingError(f"code point out of range: {payload}")
        return word
    if tag == TAG_SYMBOL:
        return word
    if tag == TAG_REF:
        if resolve_ref is None:
            raise ValueEncodingError("a heap reference needs a resolver")
        return resolve_ref(payload)
    raise ValueEncodingError(f"tag {tag} is reserved for the distributed layer")


# ---------------------------------------------------------------- classes

def make_class_of(integer: Any, double: Any, nil: Any, true: Any, false: Any,
                  character: Any, symbol: Any) -> Callable[[Any], Any]:
    """A ``class_of`` for one VM: maps any value to its class object.

    Heap objects carry their class in ``.cls``; immediates are classified by range.
    """
    def class_of(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            if INT_LO <= value < INT_HI:
                return integer
            if value >= SYM_BASE:
                return symbol
            if value >= CHAR_BASE:
                return character
            if value == NIL:
                return nil
            if value == TRUE:
                return true
            return false
        if kind is float:
            return double
        return value.cls
    return class_of
