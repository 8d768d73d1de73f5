"""Primitives of Integer: arbitrary-precision arithmetic (SmallInteger words and
LargeInt objects are one class to the program), comparison, bit operations,
conversion. Mixed Integer/Double arithmetic answers a Double, computed as IEEE-754
does on the Integer rounded to a Double (an Integer beyond the Double range rounds to
an infinity); comparisons between an Integer and a Double are exact. Text conversion
goes through ``vm.numtext`` (any size, bounded)."""
from __future__ import annotations

import math
import random

from smalltalk_vm.vm import numtext
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.limits import check_integer_bits
from smalltalk_vm.vm.objects import LargeInt
from smalltalk_vm.vm.primitives.double import as_double, ieee_divide, ieee_fmod, type_name
from smalltalk_vm.vm.primitives.registry import primitive

_random = random.Random(74755)


def number(vm, value):
    """A Python int or float for an Integer or Double; a clear error otherwise."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int and V.INT_LO <= value < V.INT_HI:
        return value - V.ZERO
    if kind is LargeInt:
        return value.n
    raise vm.signal("Error", f"Expected a numeric type but got {type_name(vm, value)}.")


def integer_arg(vm, value) -> int:
    if type(value) is int and V.INT_LO <= value < V.INT_HI:
        return value - V.ZERO
    if type(value) is LargeInt:
        return value.n
    raise vm.signal("Error", f"Expected an Integer but got {type_name(vm, value)}.")


def _zero_divide(vm):
    return vm.signal("ZeroDivide", "Division by zero.")


@primitive("Integer", "+")
def int_add(vm, rcv, arg):
    a = vm.int_of(rcv)
    b = number(vm, arg)
    if type(b) is float:
        return as_double(vm, a) + b
    return vm.make_int(a + b)


@primitive("Integer", "-")
def int_sub(vm, rcv, arg):
    a = vm.int_of(rcv)
    b = number(vm, arg)
    if type(b) is float:
        return as_double(vm, a) - b
    return vm.make_int(a - b)


@primitive("Integer", "*")
def int_mul(vm, rcv, arg):
    a = vm.int_of(rcv)
    b = number(vm, arg)
    if type(b) is float:
        return as_double(vm, a) * b
    # Refused before the work, which grows faster than the result (vm.limits).
    check_integer_bits(a.bit_length() + b.bit_length() - 1, "*")
    return vm.make_int(a * b)


@primitive("Integer", "/")
def int_div(vm, rcv, arg):
    """Division floored to an Integer (a Double argument gives the floored Double)."""
    a = vm.int_of(rcv)
    b = number(vm, arg)
    if type(b) is float:
        quotient = ieee_divide(as_double(vm, a), b)
        # floored, and mixed answers a Double; an infinity or NaN stays what it is
        return float(math.floor(quotient)) if math.isfinite(quotient) else quotient
    if b == 0:
        raise _zero_divide(vm)
    return vm.make_int(a // b)


@primitive("Integer", "//")
def int_double_div(vm, rcv, arg):
    """Division answering a Double (IEEE-754 for a Double divisor, -0.0 included)."""
    a = vm.int_of(rcv)
    b = number(vm, arg)
    if type(b) is float:
        return ieee_divide(as_double(vm, a), b)
    if b == 0:
        raise _zero_divide(vm)
    try:
        return a / b                  # correctly rounded, whatever the sizes
    except OverflowError:
        return math.inf if (a > 0) == (b > 0) else -math.inf


@primitive("Integer", "%")
def int_mod(vm, rcv, arg):
    """Modulo with the sign of the divisor."""
    if type(rcv) is int and rcv < V.INT_HI and type(arg) is int and arg < V.INT_HI and arg != V.ZERO:
        # two SmallIntegers: the answer is smaller than the divisor, a SmallInteger too
        # (every immediate word is >= INT_LO: an int below INT_HI is a SmallInteger)
        return (rcv - V.ZERO) % (arg - V.ZERO) + V.ZERO
    a = vm.int_of(rcv)
    b = number(vm, arg)
    if type(b) is float:
        return ieee_fmod(as_double(vm, a), b)   # Double modulo follows SOM's fmod
    if b == 0:
        raise _zero_divide(vm)
    return vm.make_int(a % b)


@primitive("Integer", "rem:")
def int_rem(vm, rcv, arg):
    """Remainder with the sign of the dividend."""
    a = vm.int_of(rcv)
    b = number(vm, arg)
    if type(b) is float:
        return ieee_fmod(as_double(vm, a), b)
    if b == 0:
        raise _zero_divide(vm)
    r = abs(a) % abs(b)
    return vm.make_int(-r if a < 0 else r)


def _compare(vm, rcv, arg, op):
    # Python compares an int with a float exactly (no rounding, no overflow; NaN is
    # unordered), which is what both orders of every comparison need.
    return V.TRUE if op(vm.int_of(rcv), number(vm, arg)) else V.FALSE


@primitive("Integer", "<")
def int_lt(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a < b)


@primitive("Integer", ">")
def int_gt(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a > b)


@primitive("Integer", "<=")
def int_le(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a <= b)


@primitive("Integer", ">=")
def int_ge(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a >= b)


@primitive("Integer", "=")
def int_eq(vm, rcv, arg):
    """Numeric equality; anything that is not a number is simply not equal."""
    kind = type(arg)
    if not (kind is float or kind is LargeInt or (kind is int and V.INT_LO <= arg < V.INT_HI)):
        return V.FALSE
    return V.TRUE if vm.int_of(rcv) == number(vm, arg) else V.FALSE


@primitive("Integer", "~=")
def int_ne(vm, rcv, arg):
    return V.FALSE if int_eq(vm, rcv, arg) == V.TRUE else V.TRUE


@primitive("Integer", "&")
def int_and(vm, rcv, arg):
    return vm.make_int(vm.int_of(rcv) & integer_arg(vm, arg))


@primitive("Integer", "bitAnd:")
def int_bit_and(vm, rcv, arg):
    return vm.make_int(vm.int_of(rcv) & integer_arg(vm, arg))


@primitive("Integer", "bitOr:")
def int_bit_or(vm, rcv, arg):
    return vm.make_int(vm.int_of(rcv) | integer_arg(vm, arg))


@primitive("Integer", "bitXor:")
def int_bit_xor(vm, rcv, arg):
    return vm.make_int(vm.int_of(rcv) ^ integer_arg(vm, arg))


_MAX_SHIFT = 1 << 20     # bits; a bigger shift is a mistake, not a computation


@primitive("Integer", "<<")
def int_shift_left(vm, rcv, arg):
    shift = integer_arg(vm, arg)
    if shift < 0:
        raise vm.signal("Error", "Negative shift.")
    if shift > _MAX_SHIFT:
        raise vm.signal("Error", "Shift too big.")
    return vm.make_int(vm.int_of(rcv) << shift)


@primitive("Integer", ">>>")
def int_shift_right(vm, rcv, arg):
    """Logical right shift of the 64-bit two's complement pattern for values that fit
    64 bits (as SOM does); an arithmetic shift beyond."""
    shift = integer_arg(vm, arg)
    if shift < 0:
        raise vm.signal("Error", "Negative shift.")
    a = vm.int_of(rcv)
    if shift == 0:
        return rcv
    if shift > _MAX_SHIFT:
        raise vm.signal("Error", "Shift too big.")
    if -(1 << 63) <= a < 0:
        a &= 0xFFFF_FFFF_FFFF_FFFF
    return vm.make_int(a >> shift)


@primitive("Integer", ">>")
def int_arith_shift_right(vm, rcv, arg):
    shift = integer_arg(vm, arg)
    if shift < 0:
        raise vm.signal("Error", "Negative shift.")
    return vm.make_int(vm.int_of(rcv) >> min(shift, _MAX_SHIFT))


@primitive("Integer", "sqrt")
def int_sqrt(vm, rcv):
    """An Integer when the root is exact (at any size); otherwise the correctly
    rounded Double, or, for a root beyond the Double range, the Integer part of it."""
    a = vm.int_of(rcv)
    if a < 0:
        raise vm.signal("Error", "Domain error: sqrt of a negative number.")
    root = math.isqrt(a)
    if root * root == a:
        return vm.make_int(root)
    if a < 1 << 53:
        return math.sqrt(a)          # exact as a Double, and IEEE sqrt is correctly rounded
    try:
        return _rounded_sqrt(a)
    except OverflowError:
        return vm.make_int(root)


def _rounded_sqrt(a: int) -> float:
    """sqrt(a) correctly rounded, for a >= 2^53 not a perfect square: scale a by an even
    power of two so that its root has about 64 bits, take the integer root, and add a
    sticky bit for the inexact rest before rounding to 53 bits."""
    shift = a.bit_length() - 128            # even: the root scales by 2^(shift/2)
    shift += shift & 1
    scaled = a >> shift if shift > 0 else a << -shift
    lost = shift > 0 and a & ((1 << shift) - 1) != 0
    root = math.isqrt(scaled)
    inexact = lost or root * root != scaled
    return math.ldexp(float(2 * root + (1 if inexact else 0)), shift // 2 - 1)


@primitive("Integer", "atRandom")
def int_at_random(vm, rcv):
    a = vm.int_of(rcv)
    if a < 1:
        raise vm.signal("Error", "atRandom needs a positive receiver")
    return vm.make_int(_random.randrange(a))


def _text(vm, n: int, radix: int = 10) -> str:
    try:
        return numtext.to_text(n, radix)
    except numtext.TooLong as error:
        raise vm.signal("Error", str(error)) from None


@primitive("Integer", "asString")
def int_as_string(vm, rcv):
    return vm.new_string(_text(vm, vm.int_of(rcv)))


@primitive("Integer", "asDouble")
def int_as_double(vm, rcv):
    return as_double(vm, vm.int_of(rcv))


@primitive("Integer", "as32BitSignedValue")
def int_as_32_signed(vm, rcv):
    n = vm.int_of(rcv) & 0xFFFF_FFFF
    return vm.make_int(n - (1 << 32) if n >= (1 << 31) else n)


@primitive("Integer", "as32BitUnsignedValue")
def int_as_32_unsigned(vm, rcv):
    return vm.make_int(vm.int_of(rcv) & 0xFFFF_FFFF)


@primitive("Integer", "asCharacter")
def int_as_character(vm, rcv):
    return vm.char(vm.int_of(rcv))        # no lone surrogates (vm.text)


@primitive("Integer", "printString:")
def int_print_string_radix(vm, rcv, radix):
    base = vm.int_of(radix)
    if not 2 <= base <= 36:
        raise PrimitiveFailed("radix must be 2..36")
    return vm.new_string(_text(vm, vm.int_of(rcv), base))


@primitive("Integer class", "fromString:")
def int_from_string(vm, rcv, text):
    """Decimal digits with an optional sign, or the radix form of literals
    (``16r1F``, ``-2r101``); surrounding white space is ignored."""
    s = vm.str_of(text).strip()
    body = s[1:] if s[:1] in ("-", "+") else s
    radix_text, has_radix, digits = body.partition("r")
    try:
        radix = numtext.from_text(radix_text) if has_radix else 10
        if not 2 <= radix <= 36:
            raise ValueError("radix out of range")
        n = numtext.from_text(digits if has_radix else body, radix)
    except numtext.TooLong as error:
        raise vm.signal("Error", f"Integer fromString: {error}") from None
    except ValueError:
        shown = s if len(s) <= 60 else s[:57] + "..."
        raise vm.signal("Error", f"'{shown}' cannot be converted to an Integer.") from None
    return vm.make_int(-n if s.startswith("-") else n)
