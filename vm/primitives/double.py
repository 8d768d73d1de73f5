"""Primitives of Double: IEEE-754 arithmetic (division by zero gives infinities or NaN,
never an error), comparison, rounding, and shortest round-trip printing."""
from __future__ import annotations

import math

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import LargeInt
from smalltalk_vm.vm.primitives.registry import primitive


def format_double(x: float) -> str:
    """The shortest digits that read back as ``x``, laid out as SOM prints them:
    plain decimals for exponents -5 < K <= 16 (``0.1``, ``1.0``, ``0.00001``,
    ``1000000000000000.0``), otherwise ``d.ddde<exp>`` (``1e16``, ``1.5e-7``);
    ``Infinity``, ``-Infinity``, ``NaN``. The lexer reads all of these back."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    text = repr(abs(x))
    mantissa, _, exponent = text.partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # value = 0.<digits> * 10^k
    k = len(int_part.lstrip("0")) if int_part.strip("0") else -(len(frac_part) - len(frac_part.lstrip("0")))
    k += int(exponent) if exponent else 0
    digits = digits.rstrip("0") or "0"
    n = len(digits)
    if 0 < k <= 16:
        if n <= k:
            return f"{sign}{digits}{'0' * (k - n)}.0"
        return f"{sign}{digits[:k]}.{digits[k:]}"
    if -5 < k <= 0:
        return f"{sign}0.{'0' * -k}{digits}"
    tail = f".{digits[1:]}" if n > 1 else ""
    return f"{sign}{digits[0]}{tail}e{k - 1}"


def as_double(vm, n: int) -> float:
    """An Integer rounded to the nearest Double; beyond the Double range, an infinity
    of its sign (IEEE-754's overflow, and what Pharo's asFloat answers)."""
    try:
        return float(n)
    except OverflowError:
        return math.inf if n > 0 else -math.inf


def _arg(vm, value) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int and V.INT_LO <= value < V.INT_HI:
        return float(value - V.ZERO)
    if kind is LargeInt:
        return as_double(vm, value.n)
    raise vm.signal("Error", f"Expected a numeric type but got {type_name(vm, value)}.")


def type_name(vm, value) -> str:
    name = vm.class_of(value).name
    return f"an instance of {name}"


def _check(rcv) -> float:
    if type(rcv) is not float:
        raise PrimitiveFailed("receiver is not a Double")
    return rcv


def ieee_fmod(a: float, b: float) -> float:
    """C's fmod (the sign of the dividend), with IEEE-754's NaN where Python raises."""
    if b == 0.0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def ieee_pow(x: float, y: float) -> float:
    """IEEE-754 pow: NaN where Python raises a domain error (a negative base with a
    fractional exponent), infinities of the right sign where it overflows or divides
    by zero."""
    try:
        return math.pow(x, y)
    except OverflowError:
        negative = x < 0 and _is_odd_integer(y)
        return -math.inf if negative else math.inf
    except ValueError:
        if x == 0.0 and y < 0:        # pole: 0 to a negative power
            negative = math.copysign(1.0, x) < 0 and _is_odd_integer(y)
            return -math.inf if negative else math.inf
        return math.nan


def _is_odd_integer(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0.0


def ieee_divide(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


@primitive("Double", "+")
def double_add(vm, rcv, arg):
    return _check(rcv) + _arg(vm, arg)


@primitive("Double", "-")
def double_sub(vm, rcv, arg):
    return _check(rcv) - _arg(vm, arg)


@primitive("Double", "*")
def double_mul(vm, rcv, arg):
    return _check(rcv) * _arg(vm, arg)


@primitive("Double", "//")
def double_div(vm, rcv, arg):
    return ieee_divide(_check(rcv), _arg(vm, arg))


@primitive("Double", "/")
def double_slash(vm, rcv, arg):
    return ieee_divide(_check(rcv), _arg(vm, arg))


@primitive("Double", "%")
def double_mod(vm, rcv, arg):
    return ieee_fmod(_check(rcv), _arg(vm, arg))    # SOM: the sign of the dividend


@primitive("Double", "rem:")
def double_rem(vm, rcv, arg):
    return ieee_fmod(_check(rcv), _arg(vm, arg))


@primitive("Double", "raisedTo:")
def double_raised_to(vm, rcv, arg):
    """IEEE-754 pow; an Integer exponent of any size is used exactly where it matters
    (its parity decides the sign of a negative base)."""
    x = _check(rcv)
    kind = type(arg)
    if kind is float:
        return ieee_pow(x, arg)
    if kind is LargeInt or (kind is int and V.INT_LO <= arg < V.INT_HI):
        n = arg.n if kind is LargeInt else arg - V.ZERO
        if abs(n) < 1 << 53:
            return ieee_pow(x, float(n))
        # a huge exponent: only |x| against 1 and the parity of n matter
        y = math.inf if n > 0 else -math.inf
        magnitude = ieee_pow(abs(x), y)
        return -magnitude if x < 0 and n % 2 else magnitude
    raise vm.signal("Error", f"Expected a numeric type but got {type_name(vm, arg)}.")


def _compare(vm, rcv, arg, op):
    # Exact, as Python compares a float with an int: a huge Integer is never rounded.
    x = _check(rcv)
    kind = type(arg)
    if kind is float:
        return V.TRUE if op(x, arg) else V.FALSE
    if kind is int and V.INT_LO <= arg < V.INT_HI:
        return V.TRUE if op(x, arg - V.ZERO) else V.FALSE
    if kind is LargeInt:
        return V.TRUE if op(x, arg.n) else V.FALSE
    raise vm.signal("Error", f"Expected a numeric type but got {type_name(vm, arg)}.")


@primitive("Double", "<")
def double_lt(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a < b)


@primitive("Double", ">")
def double_gt(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a > b)


@primitive("Double", "<=")
def double_le(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a <= b)


@primitive("Double", ">=")
def double_ge(vm, rcv, arg):
    return _compare(vm, rcv, arg, lambda a, b: a >= b)


@primitive("Double", "=")
def double_eq(vm, rcv, arg):
    """Numeric equality; Python compares a float with an int exactly."""
    x = _check(rcv)
    kind = type(arg)
    if kind is float:
        return V.TRUE if x == arg else V.FALSE
    if kind is int and V.INT_LO <= arg < V.INT_HI:
        return V.TRUE if x == arg - V.ZERO else V.FALSE
    if kind is LargeInt:
        return V.TRUE if x == arg.n else V.FALSE
    return V.FALSE


@primitive("Double", "~=")
def double_ne(vm, rcv, arg):
    return V.FALSE if double_eq(vm, rcv, arg) == V.TRUE else V.TRUE


@primitive("Double", "sqrt")
def double_sqrt(vm, rcv):
    x = _check(rcv)
    return math.sqrt(x) if x >= 0 else math.nan


@primitive("Double", "sin")
def double_sin(vm, rcv):
    x = _check(rcv)
    return math.sin(x) if not math.isinf(x) else math.nan


@primitive("Double", "cos")
def double_cos(vm, rcv):
    x = _check(rcv)
    return math.cos(x) if not math.isinf(x) else math.nan


@primitive("Double", "exp")
def double_exp(vm, rcv):
    try:
        return math.exp(_check(rcv))
    except OverflowError:
        return math.inf


@primitive("Double", "ln")
def double_ln(vm, rcv):
    x = _check(rcv)
    if x < 0 or math.isnan(x):
        return math.nan
    return math.log(x) if x > 0 else -math.inf


def _integral(vm, x: float) -> object:
    if math.isnan(x) or math.isinf(x):
        raise PrimitiveFailed(f"{format_double(x)} has no integer value")
    return vm.make_int(int(x))


@primitive("Double", "round")
def double_round(vm, rcv):
    """Half away from zero."""
    x = _check(rcv)
    if math.isnan(x) or math.isinf(x):
        raise PrimitiveFailed(f"{format_double(x)} cannot be rounded")
    return vm.make_int(math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5))


@primitive("Double", "asInteger")
def double_as_integer(vm, rcv):
    return _integral(vm, _check(rcv))


@primitive("Double", "floor")
def double_floor(vm, rcv):
    x = _check(rcv)
    return _integral(vm, math.floor(x)) if not (math.isnan(x) or math.isinf(x)) else _integral(vm, x)


@primitive("Double", "ceiling")
def double_ceiling(vm, rcv):
    x = _check(rcv)
    return _integral(vm, math.ceil(x)) if not (math.isnan(x) or math.isinf(x)) else _integral(vm, x)


@primitive("Double", "asString")
def double_as_string(vm, rcv):
    return vm.new_string(format_double(_check(rcv)))


@primitive("Double", "isNaN")
def double_is_nan(vm, rcv):
    return V.TRUE if math.isnan(_check(rcv)) else V.FALSE


@primitive("Double", "isInfinite")
def double_is_infinite(vm, rcv):
    return V.TRUE if math.isinf(_check(rcv)) else V.FALSE


@primitive("Double class", "PositiveInfinity")
def double_positive_infinity(vm, rcv):
    return math.inf


@primitive("Double class", "NegativeInfinity")
def double_negative_infinity(vm, rcv):
    return -math.inf


@primitive("Double class", "NaN")
def double_nan(vm, rcv):
    return math.nan


@primitive("Double class", "fromString:")
def double_from_string(vm, rcv, text):
    s = vm.str_of(text).strip()
    special = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}
    if s in special:
        return special[s]
    try:
        return float(s)
    except ValueError:
        raise vm.signal("Error", f"'{s}' cannot be converted to a Double.") from None
