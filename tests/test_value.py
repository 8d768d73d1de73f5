"""Property tests for the NaN-boxed value encoding (vm/value.py, DESIGN.md "Values:
NaN-boxing"): every kind of value round-trips through its 64-bit word, invalid words are
rejected, and ``class_of`` classifies each kind.

The expected words are computed here from the layout the design fixes (quiet-NaN
prefix, tag in bits 48-50, 48-bit payload), not from the module's own constants, so a
change to the encoding shows up as a failure.
"""
from __future__ import annotations

import math
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import LargeInt, VString
from smalltalk_vm.vm.value import ValueEncodingError

CANONICAL_NAN = 0x7FF8_0000_0000_0000
WORD_LIMIT = 1 << 64
PAYLOAD_LIMIT = 1 << 48
SMALL_LO = -(1 << 47)
SMALL_HI = 1 << 47          # exclusive
MAX_CODE_POINT = 0x10FFFF
DETERMINISTIC = settings(derandomize=True)


def tagged(tag: int, payload: int) -> int:
    """The word with ``tag`` and ``payload`` as DESIGN.md lays it out."""
    return CANONICAL_NAN | (tag << 48) | payload


def float_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def bits_float(word: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", word))[0]


def payload_of(word: int) -> int:
    return word & (PAYLOAD_LIMIT - 1)


small_ints = st.one_of(
    st.integers(SMALL_LO, SMALL_HI - 1),
    st.integers(SMALL_LO, SMALL_LO + 1000),
    st.integers(SMALL_HI - 1000, SMALL_HI - 1),
    st.integers(-1000, 1000),
)
code_points = st.integers(0, MAX_CODE_POINT)
symbol_indices = st.integers(0, PAYLOAD_LIMIT - 1)
payloads = st.integers(0, PAYLOAD_LIMIT - 1)
any_words = st.one_of(
    st.integers(0, WORD_LIMIT - 1),
    st.builds(tagged, st.integers(0, 7), payloads),
    st.builds(tagged, st.integers(0, 7), st.integers(0, 4)),
)


class HeapThing:
    """Stands for a heap object; the serialiser numbers it by ``index``."""

    def __init__(self, index: int) -> None:
        self.index = index


# ---------------------------------------------------------------- SmallInteger

@DETERMINISTIC
@given(small_ints)
def test_small_integer_round_trips_through_its_word(n):
    word = V.small_int(n)
    assert word == tagged(1, n + (1 << 47)), "payload must be n + 2^47 under tag 1"
    assert 0 <= word < WORD_LIMIT
    assert V.tag_of(word) == 1
    assert V.is_small_int(word)
    assert V.fits_small(n)
    assert V.box(word) == word
    unboxed = V.unbox(word)
    assert V.is_small_int(unboxed)
    assert V.small_int_value(unboxed) == n
    assert V.small_int_value(V.unbox(V.box(word))) == n


@DETERMINISTIC
@given(small_ints, small_ints)
def test_small_integer_word_order_is_integer_order(a, b):
    wa, wb = V.small_int(a), V.small_int(b)
    assert (wa < wb) == (a < b)
    assert (wa == wb) == (a == b)
    # The tagged add of DESIGN.md: `a + b - ZERO` is the word of the sum when it fits.
    if SMALL_LO <= a + b < SMALL_HI:
        assert wa + wb - V.small_int(0) == V.small_int(a + b)


@pytest.mark.parametrize("n, fits", [
    (SMALL_LO, True), (SMALL_HI - 1, True), (0, True),
    (SMALL_LO - 1, False), (SMALL_HI, False), (1 << 200, False), (-(1 << 200), False),
])
def test_small_integer_range_boundaries(n, fits):
    assert V.fits_small(n) is fits
    if fits:
        assert V.is_small_int(V.small_int(n))


def test_words_just_outside_the_small_integer_range_are_not_small_integers():
    assert not V.is_small_int(tagged(1, 0) - 1)
    assert not V.is_small_int(tagged(2, 0))
    assert not V.is_small_int(1.0)
    assert not V.is_small_int(LargeInt(None, 1 << 60))


# ---------------------------------------------------------------- nil / true / false

@pytest.mark.parametrize("name", ["NIL", "TRUE", "FALSE"])
def test_specials_round_trip(name):
    word = getattr(V, name)
    assert V.tag_of(word) == 2
    assert payload_of(word) <= 2
    assert V.box(word) == word
    assert V.unbox(word) == word


def test_specials_are_distinct_and_booleans_recognised():
    assert len({V.NIL, V.TRUE, V.FALSE}) == 3
    assert V.is_boolean(V.TRUE) and V.is_boolean(V.FALSE) and not V.is_boolean(V.NIL)
    assert V.from_bool(True) == V.TRUE and V.from_bool(False) == V.FALSE


@DETERMINISTIC
@given(st.integers(3, PAYLOAD_LIMIT - 1))
def test_unknown_special_payloads_are_rejected(payload):
    with pytest.raises(ValueEncodingError):
        V.unbox(tagged(2, payload))


# ---------------------------------------------------------------- Characters

@DETERMINISTIC
@given(code_points)
def test_character_round_trips_through_its_word(cp):
    word = V.char_word(cp)
    assert word == tagged(3, cp)
    assert V.tag_of(word) == 3
    assert V.is_char(word)
    assert V.box(word) == word
    assert V.char_code(V.unbox(word)) == cp


def test_every_code_point_round_trips():
    # Exhaustive: 1.1M code points is cheap enough and leaves no gap for sampling.
    for cp in range(MAX_CODE_POINT + 1):
        word = V.char_word(cp)
        if V.char_code(V.unbox(V.box(word))) != cp:
            pytest.fail(f"code point {cp:#x} does not round-trip")


@DETERMINISTIC
@given(st.one_of(st.integers(MAX_CODE_POINT + 1, PAYLOAD_LIMIT - 1), st.integers(max_value=-1)))
def test_out_of_range_code_points_are_rejected(cp):
    with pytest.raises(ValueEncodingError):
        V.char_word(cp)
    if cp >= 0:
        with pytest.raises(ValueEncodingError):
            V.unbox(tagged(3, cp))


# ---------------------------------------------------------------- Symbols

@DETERMINISTIC
@given(symbol_indices)
def test_symbol_round_trips_through_its_word(index):
    word = V.symbol_word(index)
    assert word == tagged(4, index)
    assert V.tag_of(word) == 4
    assert V.is_symbol(word)
    assert V.box(word) == word
    assert V.symbol_index(V.unbox(word)) == index


# ---------------------------------------------------------------- Doubles

@DETERMINISTIC
@given(st.floats(allow_nan=False, allow_infinity=True, allow_subnormal=True))
def test_double_round_trips_bit_for_bit(x):
    word = V.box(x)
    assert word == float_bits(x), "a non-NaN double is its own box"
    assert V.tag_of(word) == 0
    back = V.unbox(word)
    assert type(back) is float
    assert float_bits(back) == float_bits(x)      # keeps the sign of -0.0


@pytest.mark.parametrize("x", [0.0, -0.0, math.inf, -math.inf, 5e-324, -5e-324,
                               2.2250738585072009e-308, 1.7976931348623157e308, 1.0, -1.5])
def test_special_doubles_round_trip(x):
    back = V.unbox(V.box(x))
    assert float_bits(back) == float_bits(x)


nan_words = st.builds(
    lambda sign, quiet, mantissa: (sign << 63) | (0x7FF << 52) | (quiet << 51) | mantissa,
    st.integers(0, 1), st.integers(0, 1), st.integers(0, (1 << 51) - 1),
).filter(lambda w: w & ((1 << 52) - 1) != 0)


@DETERMINISTIC
@given(st.one_of(nan_words.map(bits_float), st.just(math.nan), st.just(-math.nan),
                 st.floats(allow_nan=True).filter(math.isnan)))
def test_every_nan_boxes_to_the_canonical_nan(nan):
    assert math.isnan(nan)
    assert V.box(nan) == CANONICAL_NAN
    assert math.isnan(V.unbox(V.box(nan)))


def test_canonical_nan_unboxes_to_a_nan():
    back = V.unbox(CANONICAL_NAN)
    assert type(back) is float and math.isnan(back)


@DETERMINISTIC
@given(st.integers(1, PAYLOAD_LIMIT - 1))
def test_non_canonical_nan_payloads_with_tag_zero_are_rejected(payload):
    with pytest.raises(ValueEncodingError):
        V.unbox(tagged(0, payload))


# ---------------------------------------------------------------- heap references

@DETERMINISTIC
@given(st.lists(st.integers(0, PAYLOAD_LIMIT - 1), min_size=1, max_size=20, unique=True))
def test_heap_references_round_trip_through_the_serialisers_index(indices):
    things = {i: HeapThing(i) for i in indices}
    for index, thing in things.items():
        word = V.box(thing, ref_index=lambda obj: obj.index)
        assert word == tagged(5, index)
        assert V.tag_of(word) == 5
        assert V.unbox(word, resolve_ref=things.__getitem__) is thing


def test_heap_object_without_serialiser_index_cannot_be_boxed():
    with pytest.raises(ValueEncodingError):
        V.box(HeapThing(3))
    with pytest.raises(ValueEncodingError):
        V.unbox(tagged(5, 3))


@pytest.mark.parametrize("index", [-1, PAYLOAD_LIMIT, 1 << 60])
def test_heap_reference_index_must_fit_the_payload(index):
    with pytest.raises(ValueEncodingError):
        V.box(HeapThing(index), ref_index=lambda obj: obj.index)


# ---------------------------------------------------------------- invalid words

@DETERMINISTIC
@given(st.sampled_from([6, 7]), payloads)
def test_reserved_tags_are_rejected(tag, payload):
    word = tagged(tag, payload)
    assert V.tag_of(word) == tag
    with pytest.raises(ValueEncodingError):
        V.unbox(word, resolve_ref=HeapThing)


@DETERMINISTIC
@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=WORD_LIMIT)))
def test_words_outside_64_bits_are_rejected(word):
    with pytest.raises(ValueEncodingError):
        V.unbox(word, resolve_ref=HeapThing)


@DETERMINISTIC
@given(any_words)
def test_any_word_either_is_rejected_or_round_trips(word):
    """The whole 64-bit space: a word unboxes to a value that boxes back to the same
    word (NaNs to the canonical NaN), or it is refused with ValueEncodingError."""
    try:
        value = V.unbox(word, resolve_ref=HeapThing)
    except ValueEncodingError:
        assert V.tag_of(word) in (0, 2, 3, 6, 7), f"{word:#018x} wrongly rejected"
        return
    again = V.box(value, ref_index=lambda obj: obj.index)
    if type(value) is float and math.isnan(value):
        assert again == CANONICAL_NAN
    else:
        assert again == word, f"{word:#018x} came back as {again:#018x}"


# ---------------------------------------------------------------- class_of

KINDS = ("integer", "double", "nil", "true", "false", "character", "symbol")


class Marker:
    def __init__(self, name: str) -> None:
        self.name = name


MARKERS = {kind: Marker(kind) for kind in KINDS}
marked_class_of = V.make_class_of(*(MARKERS[k] for k in KINDS))

kinded_values = st.one_of(
    small_ints.map(lambda n: ("integer", V.small_int(n))),
    st.floats(allow_nan=True).map(lambda x: ("double", x)),
    st.just(("nil", V.NIL)), st.just(("true", V.TRUE)), st.just(("false", V.FALSE)),
    code_points.map(lambda cp: ("character", V.char_word(cp))),
    symbol_indices.map(lambda i: ("symbol", V.symbol_word(i))),
)


@DETERMINISTIC
@given(kinded_values)
def test_make_class_of_classifies_every_immediate_kind(pair):
    kind, value = pair
    assert marked_class_of(value) is MARKERS[kind]


def test_make_class_of_answers_a_heap_objects_own_class():
    heap_class = Marker("Heap")
    thing = HeapThing(0)
    thing.cls = heap_class
    assert marked_class_of(thing) is heap_class


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(kinded_values)
def test_real_machine_classifies_every_kind(shared_vm, pair):
    universe = shared_vm.universe
    expected = {
        "integer": universe.Integer, "double": universe.Double, "nil": universe.Nil,
        "true": universe.TrueClass, "false": universe.FalseClass,
        "character": universe.Character, "symbol": universe.Symbol,
    }
    kind, value = pair
    cls = universe.class_of(value)
    assert cls is expected[kind]
    assert cls.name == {"integer": "Integer", "double": "Double", "nil": "Nil", "true": "True",
                        "false": "False", "character": "Character", "symbol": "Symbol"}[kind]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(st.one_of(st.integers(max_value=SMALL_LO - 1), st.integers(min_value=SMALL_HI)))
def test_real_machine_large_integers_are_integers_too(shared_vm, n):
    universe = shared_vm.universe
    value = universe.make_int(n)
    assert type(value) is LargeInt and value.n == n
    assert universe.class_of(value) is universe.Integer


def test_real_machine_classifies_heap_objects(vm):
    universe = vm.universe
    assert universe.class_of(universe.new_string("abc")) is universe.String
    assert type(universe.new_string("abc")) is VString
    assert universe.class_of(universe.new_array([])) is universe.Array
    assert universe.class_of(universe.Integer) is universe.Integer.cls
    assert universe.class_of(universe.Integer.cls) is universe.Metaclass
    assert vm.eval("1 class") == "Integer"
    assert vm.eval("(1 << 60) class") == "Integer"
    assert vm.eval("1.5 class") == "Double"
    assert vm.eval("$a class") == "Character"
    assert vm.eval("#a class") == "Symbol"
    assert vm.eval("nil class") == "Nil"
