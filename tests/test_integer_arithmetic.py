"""Property tests: Integer arithmetic evaluated by the VM agrees with Python ints
(LANGUAGE.md §4), across the 48-bit SmallInteger boundary and far beyond it, through
each way a program reaches it: the interpreter's inline fast paths (SEND_ADD and
friends, in compiled methods and in literal expressions) and the primitives (reached by
``perform:with:``, which bypasses the fast paths). Results that fit 48 bits must be
SmallInteger words; larger ones LargeInt objects, and shrinking back makes them small.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from conftest import VMSession
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import LargeInt

SMALL_LO = -(1 << 47)
SMALL_HI = 1 << 47          # exclusive
BIG = 1 << 200
MASK64 = (1 << 64) - 1

ARITH = settings(max_examples=200, deadline=None, derandomize=True)


def python_rem(a: int, b: int) -> int:
    """Remainder with the sign of the dividend (truncated division)."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def python_logical_shift(a: int, shift: int) -> int:
    """SOM's `>>>`: a logical shift of the 64-bit pattern for values that fit 64 bits."""
    if shift == 0 or a >= 0:
        return a >> shift
    return (a & MASK64) >> shift


# selector -> (Python meaning, whether it needs a non-zero divisor)
OPERATIONS: dict[str, tuple[Callable[[int, int], Any], bool]] = {
    "+": (lambda a, b: a + b, False),
    "-": (lambda a, b: a - b, False),
    "*": (lambda a, b: a * b, False),
    "/": (lambda a, b: a // b, True),
    "//": (lambda a, b: a / b, True),
    "%": (lambda a, b: a % b, True),
    "rem:": (python_rem, True),
    "<": (lambda a, b: a < b, False),
    "=": (lambda a, b: a == b, False),
    "bitXor:": (lambda a, b: a ^ b, False),
    "&": (lambda a, b: a & b, False),
}
FAST_PATH_SELECTORS = ("+", "-", "*", "<", "=")
METHOD_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "div", "//": "fdiv", "%": "mod",
                "rem:": "rem", "<": "lt", "=": "eq", "bitXor:": "xor", "&": "band",
                "<<": "shl", ">>>": "lshr"}

HELPER_CLASS = "IntegerArithmeticProbe = (\n" + "\n".join(
    f"    {name}: a with: b = ( ^ a {sel} b )" for sel, name in METHOD_NAMES.items()
) + """
    perform: selector on: a with: b = ( ^ a perform: selector with: b )
    guarded: selector on: a with: b = (
        ^ [ a perform: selector with: b ] on: ZeroDivide do: [ :e | #zeroDivide ] )
)"""


class ArithmeticVM:
    """One bootstrapped machine for the whole module, with the probe class loaded."""

    def __init__(self) -> None:
        self.session = VMSession()
        self.session.define(HELPER_CLASS)
        self.universe = self.session.universe
        self.machine = self.session.machine
        self.probe = self.session.value("IntegerArithmeticProbe new")

    def box(self, n: int) -> Any:
        return self.universe.make_int(n)

    def send(self, selector: str, args: list) -> Any:
        outcome = self.machine.send(self.probe, selector, args)
        assert outcome.status == "value", f"{selector} {args}: {outcome.status} {outcome.error_text}"
        return outcome.value

    def via_method(self, selector: str, a: int, b: int) -> Any:
        """Through a compiled method `a OP b` (fast-path opcode for + - * < =)."""
        return self.send(METHOD_NAMES[selector] + ":with:", [self.box(a), self.box(b)])

    def via_perform(self, selector: str, a: int, b: int) -> Any:
        """Through `perform:with:` (the primitive, no fast path)."""
        return self.send("perform:on:with:", [self.universe.symbol(selector), self.box(a), self.box(b)])

    def via_literals(self, selector: str, a: int, b: int) -> Any:
        """A literal expression, compiled as a do-it."""
        outcome = self.session.run(f"({a}) {selector} ({b})")
        assert outcome.status == "value", f"({a}) {selector} ({b}): {outcome.error_text}"
        return outcome.value


@pytest.fixture(scope="module")
def arith() -> ArithmeticVM:
    return ArithmeticVM()


def assert_integer_value(actual: Any, expected: int, what: str) -> None:
    """``actual`` is the VM Integer ``expected`` in its one correct representation."""
    if SMALL_LO <= expected < SMALL_HI:
        assert V.is_small_int(actual), f"{what}: {expected} should be a SmallInteger word, got {actual!r}"
        assert V.small_int_value(actual) == expected, f"{what}: got {V.small_int_value(actual)}"
    else:
        assert type(actual) is LargeInt, f"{what}: {expected} should be a LargeInt, got {actual!r}"
        assert actual.n == expected, f"{what}: got {actual.n}"


def assert_vm_result(actual: Any, expected: Any, what: str) -> None:
    if type(expected) is bool:
        assert actual == (V.TRUE if expected else V.FALSE), f"{what}: expected {expected}"
    elif type(expected) is float:
        assert type(actual) is float, f"{what}: expected a Double, got {actual!r}"
        assert actual == expected, f"{what}: {actual} != {expected}"
    else:
        assert_integer_value(actual, expected, what)


# ---------------------------------------------------------------- strategies

BOUNDARIES = [0, 1, -1, SMALL_HI, SMALL_LO, SMALL_HI - 1, SMALL_LO - 1, 1 << 48, -(1 << 48),
              1 << 24, -(1 << 24), 1 << 63, -(1 << 63), 1 << 64, BIG, -BIG]

near_boundary = st.builds(lambda base, offset: base + offset,
                          st.sampled_from(BOUNDARIES), st.integers(-4, 4))
integers = st.one_of(
    near_boundary,
    st.integers(SMALL_LO, SMALL_HI - 1),
    st.integers(-BIG, BIG),
    st.integers(-1000, 1000),
)


def _shrinking_pair(big: int, small: int) -> tuple[int, int]:
    """(big, small - big): their sum is small again after a large intermediate."""
    return big, small - big


operand_pairs = st.one_of(
    st.tuples(integers, integers),
    integers.map(lambda a: (a, a)),
    integers.map(lambda a: (a, -a)),
    st.builds(_shrinking_pair, st.integers(SMALL_HI, BIG), st.integers(-1000, 1000)),
    st.builds(_shrinking_pair, st.integers(-BIG, SMALL_LO - 1), st.integers(-1000, 1000)),
)


def check_all_paths(arith: ArithmeticVM, selector: str, a: int, b: int, expected: Any) -> None:
    what = f"({a}) {selector} ({b})"
    assert_vm_result(arith.via_method(selector, a, b), expected, "method " + what)
    assert_vm_result(arith.via_perform(selector, a, b), expected, "perform " + what)
    assert_vm_result(arith.via_literals(selector, a, b), expected, "literal " + what)


# ---------------------------------------------------------------- properties

@pytest.mark.parametrize("selector", list(OPERATIONS))
def test_binary_operation_agrees_with_python(arith, selector):
    meaning, needs_divisor = OPERATIONS[selector]

    @ARITH
    @given(operand_pairs)
    def check(pair):
        a, b = pair
        if needs_divisor and b == 0:
            b = 7
        check_all_paths(arith, selector, a, b, meaning(a, b))

    check()


@ARITH
@given(integers, st.one_of(st.integers(0, 70), st.integers(0, 300)))
def test_shift_left_agrees_with_python(arith, a, shift):
    check_all_paths(arith, "<<", a, shift, a << shift)


@ARITH
@given(st.one_of(integers.filter(lambda n: n >= 0), st.integers(0, 1 << 64)),
       st.one_of(st.integers(0, 70), st.integers(0, 260)))
def test_logical_shift_right_of_non_negative_agrees_with_python(arith, a, shift):
    check_all_paths(arith, ">>>", a, shift, a >> shift)


@ARITH
@given(st.one_of(st.integers(-(1 << 63), -1), st.integers(SMALL_LO - 4, -1)), st.integers(0, 70))
def test_logical_shift_right_of_negative_64_bit_values_is_unsigned(arith, a, shift):
    # SOM: `-1 >>> 1 = 9223372036854775807` (the 64-bit two's complement pattern).
    check_all_paths(arith, ">>>", a, shift, python_logical_shift(a, shift))


@ARITH
@given(st.integers(SMALL_HI, BIG), st.integers(-1000, 1000))
def test_large_intermediates_shrink_back_to_small_integers(arith, big, small):
    """(big + small) - big, (big * small) / big and big - (big - small) are small again."""
    session = arith.session
    cases = {
        f"(({big}) + ({small})) - ({big})": small,
        f"(({big}) * ({small})) / ({big})": small,
        f"({big}) - (({big}) - ({small}))": small,
        f"(({small}) - ({big})) + ({big})": small,
        f"(({big}) negated + ({big})) + ({small})": small,
    }
    for source, expected in cases.items():
        outcome = session.run(source)
        assert outcome.status == "value", f"{source}: {outcome.error_text}"
        assert_integer_value(outcome.value, expected, source)


@ARITH
@given(st.integers(SMALL_LO, SMALL_HI - 1), st.integers(SMALL_LO, SMALL_HI - 1))
def test_fast_path_overflow_promotes(arith, a, b):
    """Two SmallIntegers whose sum, difference or product leaves 48 bits."""
    for selector, expected in (("+", a + b), ("-", a - b), ("*", a * b)):
        assert_vm_result(arith.via_method(selector, a, b), expected, f"{a} {selector} {b}")


def test_boundary_examples_across_all_paths(arith):
    """Deterministic corner cases, checked every run whatever hypothesis draws."""
    cases = [
        ("+", SMALL_HI - 1, 1), ("-", SMALL_LO, 1), ("+", SMALL_HI, -1), ("-", SMALL_LO - 1, -1),
        ("*", 1 << 24, 1 << 23), ("*", -(1 << 24), 1 << 23), ("*", SMALL_LO, -1),
        ("/", SMALL_LO, -1), ("/", SMALL_HI, 2), ("/", -7, 2), ("%", -7, 2), ("%", 7, -2),
        ("rem:", -7, 2), ("rem:", 7, -2), ("//", 1, 3), ("//", -BIG, 3),
        ("<", SMALL_HI, SMALL_HI - 1), ("=", SMALL_HI, SMALL_HI), ("&", -1, BIG),
        ("bitXor:", BIG, BIG), ("<<", 1, 47), ("<<", -1, 47), (">>>", SMALL_HI, 1),
    ]
    for selector, a, b in cases:
        meaning = OPERATIONS[selector][0] if selector in OPERATIONS else (
            (lambda x, y: x << y) if selector == "<<" else python_logical_shift)
        check_all_paths(arith, selector, a, b, meaning(a, b))


# ---------------------------------------------------------------- division by zero

DIVISIONS = ("/", "//", "%", "rem:")


@pytest.mark.parametrize("selector", DIVISIONS)
def test_integer_division_by_zero_signals_zero_divide(arith, selector):
    @ARITH
    @given(integers)
    def check(a):
        caught = arith.send("guarded:on:with:", [arith.universe.symbol(selector), arith.box(a), arith.box(0)])
        assert caught == arith.universe.symbol("zeroDivide"), f"{a} {selector} 0 did not signal ZeroDivide"
        for via in ("method", "literal"):
            if via == "method":
                outcome = arith.machine.send(arith.probe, METHOD_NAMES[selector] + ":with:",
                                             [arith.box(a), arith.box(0)])
            else:
                outcome = arith.session.run(f"({a}) {selector} 0")
            assert outcome.status == "error", f"{via} {a} {selector} 0 answered {outcome.value!r}"
            assert arith.universe.class_of(outcome.value).name == "ZeroDivide", outcome.error_text

    check()


def test_zero_divide_is_catchable_in_the_language(arith):
    assert arith.session.eval("[ 7 / 0 ] on: ZeroDivide do: [ :e | e class name ]") == "#ZeroDivide"
    assert arith.session.eval(f"[ {BIG} % 0 ] on: ZeroDivide do: [ :e | 42 ]") == "42"


# ---------------------------------------------------------------- sanity of the oracle

def test_python_oracle_matches_the_spec_examples():
    """LANGUAGE.md §4 / SOM: modulo has the divisor's sign, rem: the dividend's."""
    assert [10 % 3, 10 % -3, -10 % 3, -10 % -3] == [1, -2, 2, -1]
    assert [python_rem(10, 3), python_rem(10, -3), python_rem(-10, 3), python_rem(-10, -3)] == [1, 1, -1, -1]
    assert python_logical_shift(-1, 1) == 9223372036854775807
    assert python_logical_shift(-1024, 1) == 9223372036854775296
    assert python_logical_shift(-1, 0) == -1
    assert math.isclose(OPERATIONS["//"][0](1, 3), 1 / 3)
