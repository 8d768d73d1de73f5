"""Bounds on single primitives (vm/limits.py): work whose cost grows without bound is
refused with an Error before it starts — huge collections, huge Integers, printing huge
Integers — and radix printing is fast at every size it allows (vm/numtext.py)."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import cbor2
import pytest
from conftest import VMSession
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.node import wire as W
from smalltalk_vm.vm.limits import MAX_ELEMENTS, MAX_INTEGER_BITS
from smalltalk_vm.vm.numtext import MAX_BITS_SLOW_RADIX
from smalltalk_vm.vm.numtext import to_text as integer_text


@contextmanager
def no_digit_limit() -> Iterator[None]:
    """Python's own int/str conversion without its 4,300-digit guard (for checking)."""
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(previous)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(1 << 20000), max_value=1 << 20000), st.integers(min_value=2, max_value=36))
def test_integer_text_reads_back_in_every_radix(n, radix):
    text = integer_text(n, radix)
    with no_digit_limit():
        assert int(text, radix) == n
    assert text == text.upper()
    assert n == 0 or not text.lstrip("-").startswith("0")


def test_integer_text_beyond_pythons_digit_limit():
    n = 7 ** 20000                  # 16,900 decimal digits: str() refuses it by default
    with no_digit_limit():
        assert integer_text(n, 10) == str(n)
    assert len(integer_text(7 ** 300_000, 7)) == 300_001


def error_text(vm: VMSession, expression: str) -> str:
    return vm.value(f"[ {expression}. #noError ] on: Error do: [ :e | e messageText ]").chars


@pytest.mark.parametrize("expression", [
    f"Array new: {MAX_ELEMENTS + 1}",
    "Array new: (2 raisedTo: 40)",
    f"Array new: {MAX_ELEMENTS + 1} withAll: 0",
    f"ByteArray new: {MAX_ELEMENTS + 1}",
    f"String new: {MAX_ELEMENTS + 1} withAll: $a",
    "| s | s := 'ab'. 30 timesRepeat: [ s := s , s ]",
])
def test_absurd_collections_are_refused(shared_vm, expression):
    text = error_text(shared_vm, expression)
    assert "elements is more than a collection may have" in text, text


@pytest.mark.parametrize("expression", [
    f"(2 raisedTo: {MAX_INTEGER_BITS // 2 + 1}) * (2 raisedTo: {MAX_INTEGER_BITS // 2 + 1})",
    f"2 raisedTo: {MAX_INTEGER_BITS + 1}",
    "(2 raisedTo: 4000000) << 1000000",
])
def test_absurd_integers_are_refused(shared_vm, expression):
    text = error_text(shared_vm, expression)
    assert "bits is more than an Integer may have" in text, text


def test_the_largest_integer_is_allowed(shared_vm):
    assert shared_vm.eval(f"(2 raisedTo: {MAX_INTEGER_BITS - 1}) > 0") == "true"


def test_printing_a_huge_integer_is_refused_a_big_one_works(shared_vm):
    text = error_text(shared_vm, f"(2 raisedTo: {MAX_BITS_SLOW_RADIX + 1}) printString: 7")
    assert text == (f"an Integer of {MAX_BITS_SLOW_RADIX + 2} bits is too large to print in radix 7 "
                    f"(the limit is {MAX_BITS_SLOW_RADIX} bits)")
    assert shared_vm.eval("((7 raisedTo: 300000) printString: 7) size") == "300001"
    assert shared_vm.eval("((7 raisedTo: 300000) printString: 7) first") == "$1"


def test_a_huge_bignum_over_the_wire_is_refused(shared_vm):
    data = cbor2.dumps(cbor2.CBORTag(2, b"\x01" * (MAX_INTEGER_BITS // 8 + 1)))
    with pytest.raises(W.WireError, match="bignum"):
        W.decode(shared_vm.universe, data)
