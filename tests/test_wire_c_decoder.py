"""The wire reader's C path (node/wire_c_decoder.c through node/wire_c_decoding.py)
against the pure-Python reader that defines the format (node/wire_decoder.py): for
every message it reads, exactly the Decoder's value — the same kinds of objects,
classes, every field (padding and unset slots included) and the same sharing — and for
every other message it gives up (NOT_DONE), never raises, never answers where the
Decoder refuses. Tests of messages inside its subset assert that it answered."""
from __future__ import annotations

import gc
import random
import struct
import sys
import tracemalloc
from typing import Any

import cbor2
import pytest
from conftest import VMSession, examples
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from wire_support import build, damaged, recipes, with_wire_classes

from smalltalk_vm.bench.wire import vm_message
from smalltalk_vm.node import wire as W
from smalltalk_vm.node import wire_c_decoding as CD
from smalltalk_vm.node.wire_decoder import Decoder
from smalltalk_vm.node.wire_encoder import Encoder
from smalltalk_vm.node.wire_fast_decoder import NOT_DONE
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.limits import MAX_INTEGER_BITS
from smalltalk_vm.vm.objects import Instance, LargeInt, VArray, VClass, VString

MAX_DEPTH = W.DEFAULT_MAX_DEPTH
SETTINGS = settings(max_examples=examples(2), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
Tag = cbor2.CBORTag

needs_c = pytest.mark.skipif(not CD.AVAILABLE, reason="the C reader is not built")


@pytest.fixture(scope="module")
def session(shared_vm: VMSession) -> VMSession:
    return with_wire_classes(shared_vm)


# ---------------------------------------------------------------- comparing

def assert_identical(expected: Any, got: Any) -> None:
    """``got`` is what the Decoder made, object for object: the same types and classes,
    the same contents (Doubles bit for bit, every field and padding slot, ``ghosts``
    unset alike), and the same identity structure both ways — one object where the
    Decoder made one, two where it made two."""
    copy_of: dict[int, Any] = {}
    original_of: dict[int, Any] = {}
    pending = [(expected, got, "root")]
    while pending:
        a, b, path = pending.pop()
        assert type(b) is type(a), f"{path}: {type(b).__name__} instead of {type(a).__name__}"
        if type(a) is int:
            assert b == a, f"{path}: {b:#x} != {a:#x}"
            continue
        if type(a) is float:
            assert struct.pack(">d", b) == struct.pack(">d", a), f"{path}: {b!r} != {a!r}"
            continue
        if type(a) is VClass:
            assert b is a, path
            continue
        if id(a) in copy_of:
            assert copy_of[id(a)] is b, f"{path}: one shared object became two"
            continue
        assert id(b) not in original_of, f"{path}: two distinct objects became one"
        copy_of[id(a)] = b
        original_of[id(b)] = a
        assert b.cls is a.cls, f"{path}: class {b.cls.name} instead of {a.cls.name}"
        if type(a) is VString:
            assert type(b.chars) is str and b.chars == a.chars and b.h == a.h, path
        elif type(a) is LargeInt:
            assert type(b.n) is int and b.n == a.n, path
        elif type(a) is VArray:
            assert b.ihash == a.ihash and type(b.items) is list and len(b.items) == len(a.items), path
            pending.extend((x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a.items, b.items)))
        elif type(a) is Instance:
            assert b.ihash == a.ihash and type(b.fields) is list and len(b.fields) == len(a.fields), path
            assert hasattr(b, "ghosts") == hasattr(a, "ghosts"), path
            pending.extend((x, y, f"{path}.{i}") for i, (x, y) in enumerate(zip(a.fields, b.fields)))
        else:
            raise AssertionError(f"{path}: the Decoder made a {type(a).__name__}, which the C path never makes")


def expected_value(u: Any, data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The Decoder's value, or the WireError it raises (wire.decode turns its other
    errors into one)."""
    try:
        return Decoder(u, data, max_depth, None).decode()
    except W.WireError as error:
        return error
    except Exception as error:
        return W.WireError(f"{type(error).__name__}: {error}")


def c_value(u: Any, data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    return CD.decode(u, data, max_depth, None)


def tally(what: str) -> None:
    if currently_in_test_context():         # hypothesis's statistics, in a generated test
        event(what)


def check(u: Any, data: bytes, max_depth: int = MAX_DEPTH, *, must_answer: bool = False) -> Any:
    """The C path answers the Decoder's value or gives up (must_answer: answers), and
    gives up where the Decoder refuses. Answers what the C path answered."""
    expected = expected_value(u, data, max_depth)
    got = c_value(u, data, max_depth)
    if isinstance(expected, W.WireError):
        assert got is NOT_DONE, f"the Decoder refuses this ({expected}) but the C path answered {got!r}"
        tally("refused")
        return got
    if must_answer:
        assert got is not NOT_DONE, f"the C path gave up on {data.hex()}"
    if got is NOT_DONE:
        tally("gave up")
    else:
        tally("answered")
        assert_identical(expected, got)
    return got


def answers(u: Any, data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    return check(u, data, max_depth, must_answer=True)


def gives_up(u: Any, data: bytes, max_depth: int = MAX_DEPTH) -> None:
    assert c_value(u, data, max_depth) is NOT_DONE, data.hex()


# ---------------------------------------------------------------- generated values

def to_subset(recipe: tuple) -> tuple:
    """A recipe of wire_support's kinds made into one of the kinds the C path reads:
    Vectors become Arrays, Sets Dictionaries (each element its own value), ByteArrays,
    exceptions, methods and classes Strings, Characters SmallIntegers."""
    nodes, root = recipe

    def leaf(ref: tuple) -> tuple:
        return ("int", ref[1]) if ref[0] == "char" else ref

    made = []
    for node in nodes:
        kind = node[0]
        if kind in ("array", "vector"):
            made.append(("array", [leaf(c) for c in node[1]]))
        elif kind == "dict":
            made.append(("dict", [(leaf(k), leaf(v)) for k, v in node[1]]))
        elif kind == "set":
            made.append(("dict", [(leaf(k), leaf(k)) for k in node[1]]))
        elif kind == "object":
            made.append(("object", [leaf(c) for c in node[1]]))
        elif kind == "bytes":
            made.append(("string", node[1].decode("latin-1")))
        elif kind in ("exception", "method", "class"):
            made.append(("string", node[1]))
        else:
            made.append(node)
    return made, root


@needs_c
@SETTINGS
@given(recipe=recipes().map(to_subset))
def test_values_of_the_subset_are_read_as_the_decoder_reads_them(session: VMSession, recipe: tuple) -> None:
    note(repr(recipe))
    u = session.universe
    data = Encoder(u, MAX_DEPTH).encode(build(session, recipe))
    answers(u, data)


@needs_c
@SETTINGS
@given(recipe=recipes(), max_depth=st.sampled_from([1, 2, 3, 4, 6, 256]))
def test_any_generated_value_is_read_as_the_decoder_reads_it_or_left(session: VMSession, recipe: tuple,
                                                                     max_depth: int) -> None:
    note(repr(recipe))
    u = session.universe
    check(u, Encoder(u, MAX_DEPTH).encode(build(session, recipe)), max_depth)


@needs_c
@SETTINGS
@given(recipe=recipes(max_nodes=5).map(to_subset), max_depth=st.sampled_from([2, 3, 4, 5, 8]))
def test_values_of_the_subset_near_the_depth_limit(session: VMSession, recipe: tuple, max_depth: int) -> None:
    u = session.universe
    check(u, Encoder(u, MAX_DEPTH).encode(build(session, recipe)), max_depth)


# ---------------------------------------------------------------- hostile bytes

@needs_c
@settings(max_examples=examples(5), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=48))
def test_random_bytes(session: VMSession, data: bytes) -> None:
    check(session.universe, data)


# Pieces of the messages the C path reads (and some it does not), strung together at
# random: most strings are malformed, many are almost right.
POINT = cbor2.dumps("WireTestPoint")
PIECES = [bytes.fromhex(h) for h in (
    "80", "81", "82", "83", "a0", "a1", "a2", "d81c", "d81d00", "d81d01", "d81d02", "d81d20", "01", "17", "1818",
    "20", "3bffffffffffffffff", "1bffffffffffffffff", "f4", "f5", "f6", "f7", "f8", "f93c00", "f97e00",
    "fa3fc00000", "fb3ff8000000000000", "fbfff8000000000001", "6161", "6178", "6179", "617a", "60", "62c3a9",
    "63eda080", "c24105", "c2410000", "c340", "c2", "c3", "40", "4161", "d9c7396161", "d9c739", "d9c73b82",
    "d9c73a1861", "d9c740", "9f", "ff", "1c", "5f", "7f")] + [POINT, cbor2.dumps("System"), cbor2.dumps("x" * 30)]


@needs_c
@settings(max_examples=examples(5), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=14))
def test_strings_of_pieces(session: VMSession, pieces: list) -> None:
    check(session.universe, b"".join(pieces))


@needs_c
@settings(max_examples=examples(4), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(recipe=recipes(max_nodes=5), seed=st.integers(0, 2 ** 32))
def test_damaged_messages(session: VMSession, recipe: tuple, seed: int) -> None:
    """Flipped, dropped, repeated and inserted bytes, a truncated end, bytes added at
    the end: the C path answers what the Decoder answers or gives up."""
    u = session.universe
    data = Encoder(u, MAX_DEPTH).encode(build(session, to_subset(recipe) if seed % 2 else recipe))
    check(u, damaged(data, random.Random(seed)))


# ---------------------------------------------------------------- the usual message

@needs_c
def test_the_bench_message() -> None:
    u, message = vm_message()
    data = W.encode(u, message)
    assert len(data) > 800
    answers(u, data)
    assert_identical(Decoder(u, data, MAX_DEPTH, None).decode(), c_value(u, data))   # classes cached now
    assert b"\xd8\x1c" in data and b"\xd9\xc7\x3b" in data and b"\xc2" in data    # sharing, an object, a bignum


# ---------------------------------------------------------------- leaves

@needs_c
@pytest.mark.parametrize("value", [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 47 - 1, 2 ** 47,
                                   2 ** 63, 2 ** 64 - 1, -1, -24, -25, -2 ** 47, -2 ** 47 - 1, -2 ** 63,
                                   -2 ** 63 - 1, -2 ** 64])
def test_integers_in_every_head(session: VMSession, value: int) -> None:
    u = session.universe
    data = cbor2.dumps(value)
    assert answers(u, data) == V.small_int(value) if V.fits_small(value) else answers(u, data).n == value
    for size, info in ((1, 24), (2, 25), (4, 26), (8, 27)):     # the same value in longer heads
        argument = value if value >= 0 else -1 - value
        if argument < 1 << (8 * size):
            answers(u, bytes([(0 if value >= 0 else 0x20) | info]) + argument.to_bytes(size, "big"))


@needs_c
@pytest.mark.parametrize("hex_bytes", ["f90000", "f98000", "f93c00", "f97c00", "f9fc00", "f97e00", "f9fe00", "f97e01",
                                       "f90001", "f903ff", "f97bff", "fa3fc00000", "fa7fc00000", "faff800001",
                                       "fa00000001", "fb3ff8000000000000", "fb7ff8000000000001", "fb8000000000000000"])
def test_doubles_bit_for_bit(session: VMSession, hex_bytes: str) -> None:
    answers(session.universe, bytes.fromhex(hex_bytes))


@needs_c
def test_text_and_simple_values(session: VMSession) -> None:
    u = session.universe
    for value in ["", "a", "ütf-8 ✓ text", "\U0001F600" * 3, "x" * 300]:
        assert answers(u, cbor2.dumps(value)).chars == value
    assert answers(u, bytes.fromhex("84f4f5f6f7")).items == [V.FALSE, V.TRUE, V.NIL, V.NIL]


@needs_c
@pytest.mark.parametrize("hex_bytes, why", [
    ("63eda080", "a surrogate in UTF-8"), ("62c0af", "an overlong encoding"), ("61ff", "not UTF-8"),
    ("4161", "a byte string"), ("9f01ff", "an indefinite array"), ("7f6161ff", "an indefinite text"),
    ("bf0101ff", "an indefinite map"), ("1c", "additional information 28"), ("1e", "additional information 30"),
    ("0102", "bytes after the value"), ("f8ff", "a one-byte simple value"), ("e0", "an unassigned simple value"),
    ("ff", "a break"), ("", "nothing"), ("8201", "a truncated array"), ("1b0000", "a truncated head"),
    ("fb3ff8", "a truncated double"), ("62c3", "a truncated text"), ("d9c73a1861", "a Character"),
    ("d9c73f8101", "a Vector"), ("d9c7408101", "a Set"), ("d9c7416541727261", "a class"),
    ("d9c73d826545727272f6", "an exception"), ("c074323031332d30332d32315432303a30343a30305a", "a date"),
    ("d9d9f701", "the self-describing tag"), ("c2820101", "a bignum of an array"), ("d9c73963616263"[:-2], "cut"),
    ("d9c73901", "a Symbol of a number"), ("d81d6161", "a reference by text"), ("d81d20", "a negative reference"),
    ("d81d00", "a reference to nothing"), ("81d81d00", "a reference to nothing, inside"),
    ("d81cd81c81d81d00", "a reference to a slot still pending"), ("d81cd81d00", "a shareable of itself"),
    ("d81d1bffffffffffffffff", "a huge reference"), ("9bffffffffffffffff", "an array longer than the message"),
    ("bb7fffffffffffffff", "a map longer than the message"), ("7bffffffffffffffff", "text longer than the message"),
    ("a2616101d9c739616102", "a String key and a Symbol key alike"), ("a201010101", "a repeated key"),
    ("a20101f93c0002", "1 and 1.0 as keys"), ("a2f90000 01 f98000 02".replace(" ", ""), "0.0 and -0.0 as keys"),
    ("a2c2490100000000000000000101c2490100000000000000000102", "two bignum keys alike"),
    ("a2c24901000000000000000001fb43f000000000000002", "2**64 and 2.0**64 as keys"),
    ("a2d9c73961610161616102", "a Symbol key and a String key alike"), ("a2f501f502", "true twice"),
    ("a28001800102", "Array keys"), ("a2d81c616101d81d0002", "a key shared"),
])
def test_what_the_c_path_leaves(session: VMSession, hex_bytes: str, why: str) -> None:
    u = session.universe
    data = bytes.fromhex(hex_bytes)
    gives_up(u, data)
    check(u, data)              # and where the Decoder reads it, the Python paths answer it


@needs_c
def test_duplicate_keys_refused_by_the_decoder_are_left(session: VMSession) -> None:
    u = session.universe
    for data in (bytes.fromhex("a2616101d9c739616102"), bytes.fromhex("a20101f93c0002")):
        gives_up(u, data)
        with pytest.raises(W.WireError, match="duplicate"):
            Decoder(u, data, MAX_DEPTH, None).decode()


@needs_c
def test_keys_that_are_not_duplicates(session: VMSession) -> None:
    u = session.universe
    nan_twice = bytes.fromhex("a2f97e0001f97e0002")
    for data in (nan_twice, cbor2.dumps({"a": 1, "b": 2, 1: 3, 1.5: 4, 2 ** 64: 5, -(2 ** 70): 6}),
                 bytes.fromhex("a4f501f402f603d9c739616204"), bytes.fromhex("a2d9c739616101d9c739616202")):
        assert len(answers(u, data).fields) > 0
    dictionary = answers(u, cbor2.dumps({}))
    assert dictionary.cls is u.globals["Dictionary"]


@needs_c
def test_every_symbol(session: VMSession) -> None:
    u = session.universe
    names = u.symbols[:3000]
    assert answers(u, cbor2.dumps([Tag(51001, name) for name in names])).items == [u.symbol(n) for n in names]


@needs_c
def test_a_symbol_not_yet_interned_is_interned(session: VMSession) -> None:
    u = session.universe
    name = "wireCReaderSymbolNeverSeen"
    assert name not in u.symbol_ids
    word = answers(u, cbor2.dumps(Tag(51001, name)))
    assert word == u.symbol(name)


# ---------------------------------------------------------------- bignums

@needs_c
def test_bignums(session: VMSession) -> None:
    u = session.universe
    assert answers(u, bytes.fromhex("c24105")) == V.small_int(5)          # a small value in a bignum
    assert answers(u, bytes.fromhex("c34105")) == V.small_int(-6)
    assert answers(u, bytes.fromhex("c240")) == V.small_int(0)
    assert answers(u, bytes.fromhex("c340")) == V.small_int(-1)
    assert answers(u, bytes.fromhex("c246") + (2 ** 40).to_bytes(6, "big")) == V.small_int(2 ** 40)
    assert answers(u, cbor2.dumps(2 ** 200)).n == 2 ** 200
    assert answers(u, cbor2.dumps(-(2 ** 200))).n == -(2 ** 200)
    assert answers(u, bytes.fromhex("c248") + (2 ** 47).to_bytes(8, "big")).n == 2 ** 47


@needs_c
def test_bignums_at_and_over_the_limit(session: VMSession) -> None:
    u = session.universe
    size = MAX_INTEGER_BITS // 8
    at_limit = bytes.fromhex("c25a") + size.to_bytes(4, "big") + b"\xff" * size
    assert answers(u, at_limit).n.bit_length() == MAX_INTEGER_BITS
    over = bytes.fromhex("c25a") + (size + 1).to_bytes(4, "big") + b"\x00" * (size + 1)
    gives_up(u, over)
    with pytest.raises(W.WireError, match="bigger than an Integer"):
        Decoder(u, over, MAX_DEPTH, None).decode()


# ---------------------------------------------------------------- sharing

@needs_c
def test_an_array_containing_itself(session: VMSession) -> None:
    u = session.universe
    array = answers(u, bytes.fromhex("d81c82d81d0001"))
    assert array.items[0] is array and array.items[1] == V.small_int(1)


@needs_c
def test_an_object_whose_field_is_itself(session: VMSession) -> None:
    u = session.universe
    data = cbor2.dumps(Tag(28, Tag(51003, ["WireTestPoint", {"x": Tag(29, 0), "z": "zed"}])))
    point = answers(u, data)
    assert point.cls is u.globals["WireTestPoint"] and point.fields[0] is point and point.fields[1] == V.NIL
    assert point.fields[2].chars == "zed"


@needs_c
def test_a_dictionary_holding_itself(session: VMSession) -> None:
    u = session.universe
    dictionary = answers(u, cbor2.dumps(Tag(28, {"me": Tag(29, 0)})))
    values = dictionary.fields[u.field_index(dictionary.cls, "valueArray")]
    assert values.items == [dictionary]


@needs_c
def test_the_same_string_twice(session: VMSession) -> None:
    u = session.universe
    array = answers(u, cbor2.dumps([Tag(28, "twice"), Tag(29, 0), "twice"]))
    assert array.items[0] is array.items[1] and array.items[2] is not array.items[0]


@needs_c
def test_sharing_slots_are_numbered_and_filled_as_the_decoder_does(session: VMSession) -> None:
    u = session.universe
    for value in ([Tag(28, Tag(28, [1])), Tag(29, 0), Tag(29, 1)],
                  [Tag(28, [Tag(28, "a"), Tag(29, 1)]), Tag(29, 0), Tag(29, 1)],
                  [Tag(28, 5), Tag(29, 0)], [Tag(28, Tag(51001, "sym")), Tag(29, 0)],
                  [Tag(28, Tag(2, b"\x01" + bytes(9))), Tag(29, 0), Tag(29, 0)],
                  [Tag(28, {1: Tag(28, [Tag(29, 0), Tag(29, 1)])}), Tag(29, 1)],
                  [Tag(28, Tag(28, Tag(51003, ["WireTestPoint", {"y": Tag(29, 1)}]))), Tag(29, 0)]):
        answers(u, cbor2.dumps(value))
    check(u, cbor2.dumps([Tag(28, "x"), Tag(29, Tag(28, 0))]))    # an index in a shareable: left, or read alike
    for value in ([Tag(28, Tag(28, [Tag(29, 0)]))],               # the outer slot is filled when complete
                  [Tag(28, Tag(51003, [Tag(29, 0), {}]))],       # before its class name
                  [Tag(29, 0), Tag(28, "x")], [Tag(28, "x"), Tag(29, 1)]):
        data = cbor2.dumps(value)
        gives_up(u, data)
        assert isinstance(expected_value(u, data), W.WireError)


# ---------------------------------------------------------------- objects

@needs_c
def test_objects_by_value(session: VMSession) -> None:
    u = session.universe
    point = answers(u, cbor2.dumps(Tag(51003, ["WireTestPoint4", {"w": 1, "x": "ex", "z": [2.5]}])))
    assert point.cls is u.globals["WireTestPoint4"] and len(point.fields) == 4
    answers(u, cbor2.dumps(Tag(51003, ["WireTestPoint", {}])))
    repeated = bytes.fromhex("d9c73b82") + POINT + bytes.fromhex("a2617801617802")
    assert answers(u, repeated).fields[0] == V.small_int(2)                    # the last one wins
    for name in ("System", "RemoteProxy", "Array", "String", "NoSuchClassForTheWireCReader", "not a name", "1x"):
        data = cbor2.dumps(Tag(51003, [name, {}]))
        gives_up(u, data)
        assert isinstance(expected_value(u, data), W.WireError), name
    for value in (Tag(51003, ["WireTestPoint", {"q": 1}]), Tag(51003, ["WireTestPoint", {1: 1}]),
                  Tag(51003, ["WireTestPoint", {}, 1]), Tag(51003, ["WireTestPoint"]), Tag(51003, "WireTestPoint"),
                  Tag(51003, ["WireTestPoint", [1]]), Tag(51003, [Tag(28, "WireTestPoint"), {}])):
        data = cbor2.dumps(value)
        gives_up(u, data)
        assert isinstance(expected_value(u, data), W.WireError), value


@needs_c
def test_a_class_redefined_between_two_messages(session: VMSession) -> None:
    u = session.universe
    session.define("WireCLayoutBase = Object ( | a | )")
    session.define("WireCLayoutProbe = WireCLayoutBase ( | b | )")
    data = cbor2.dumps(Tag(51003, ["WireCLayoutProbe", {"a": 1, "b": 2}]))
    assert answers(u, data).fields == [V.small_int(1), V.small_int(2)]
    session.define("WireCLayoutProbe = WireCLayoutBase ( | c b | )")              # a field added
    assert answers(u, data).fields == [V.small_int(1), V.NIL, V.small_int(2)]
    session.define("WireCLayoutBase = Object ( | z a | )")                         # a superclass's field added
    assert answers(u, data).fields == [V.NIL, V.small_int(1), V.NIL, V.small_int(2)]
    session.define("WireCLayoutProbe = WireCLayoutBase ( | c | )")                 # a field removed
    gives_up(u, data)
    with pytest.raises(W.WireError, match="no field b"):
        Decoder(u, data, MAX_DEPTH, None).decode()
    session.define("WireCLayoutProbe = Error ( | b a | )")                         # another superclass
    fields = answers(u, data).fields
    names = u.all_field_names(u.globals["WireCLayoutProbe"])
    assert fields[names.index("a")] == V.small_int(1) and fields[names.index("b")] == V.small_int(2)


# ---------------------------------------------------------------- depth

def nested(levels: int, kind: str) -> bytes:
    if kind == "array":
        return b"\x81" * levels + b"\x01"
    if kind == "map":
        return b"\xa1\x01" * levels + b"\x01"
    if kind == "shareable":
        return b"\xd8\x1c" * levels + b"\x01"
    return (bytes.fromhex("d9c73b82") + POINT + bytes.fromhex("a1617a")) * (levels // 3) + b"\x01"


@needs_c
@pytest.mark.parametrize("kind", ["array", "map", "shareable", "object"])
@pytest.mark.parametrize("max_depth", [1, 2, 5, 64, 256])
def test_depth_near_the_limit(session: VMSession, kind: str, max_depth: int) -> None:
    u = session.universe
    answered = 0
    for levels in range(max(0, max_depth - 4), max_depth + 4):
        data = nested(levels, kind)
        frames = levels if kind != "object" else levels // 3 * 3
        got = check(u, data, max_depth)
        if frames < max_depth:
            assert got is not NOT_DONE, (levels, max_depth)
            answered += 1
    assert answered or max_depth == 1


@needs_c
def test_a_very_deep_limit_is_no_danger(session: VMSession) -> None:
    u = session.universe
    gives_up(u, b"\x81" * 100_000 + b"\x01", 10 ** 9)
    answers(u, b"\x81" * 300 + b"\x01", 10 ** 9)


# ---------------------------------------------------------------- robustness

@needs_c
def test_what_is_not_bytes_is_left(session: VMSession) -> None:
    u = session.universe
    assert CD.decode(u, bytearray(b"\x01"), MAX_DEPTH, None) is NOT_DONE
    assert CD.decode(u, memoryview(b"\x01"), MAX_DEPTH, None) is NOT_DONE
    assert CD.decode(u, b"\x01", 0, None) is NOT_DONE


def _messages(session: VMSession) -> tuple[Any, list[bytes], list[bytes]]:
    u, message = vm_message()
    read = [W.encode(u, message), cbor2.dumps(Tag(28, [Tag(29, 0), {"k": Tag(29, 0)}, 2 ** 80, "s", 1.5]))]
    left = [cbor2.dumps(Tag(28, [Tag(29, 0), {"a": 1, Tag(51001, "a"): 2}])),        # a cycle, then a duplicate
            cbor2.dumps([Tag(28, "shared"), Tag(29, 0), b"bytes"]), bytes.fromhex("d81c82d81d0063eda080"),
            read[0][:-5], read[0] + b"\x00", cbor2.dumps(Tag(51003, ["BenchWirePoint", {"nope": [1, 2]}]))]
    return u, read, left


@needs_c
def test_no_references_are_leaked(session: VMSession) -> None:
    u, read, left = _messages(session)
    watched = [u.String, u.Array, u.Integer, u.globals["Dictionary"], u.globals["BenchWirePoint"], V.NIL, V.TRUE,
               NOT_DONE, u.symbol_ids, u.globals]
    for data in read + left:
        CD.decode(u, data, MAX_DEPTH, None)                     # warm the caches
    layouts = CD._CONTEXTS[u].layouts
    assert u.globals["BenchWirePoint"] in layouts and u.globals["Dictionary"] in layouts
    watched += [*layouts.values(), *(entry[2] for entry in layouts.values())]
    gc.collect()
    before = [sys.getrefcount(obj) for obj in watched]
    for _ in range(2000):
        for data in read:
            assert CD.decode(u, data, MAX_DEPTH, None) is not NOT_DONE
        for data in left:
            assert CD.decode(u, data, MAX_DEPTH, None) is NOT_DONE
    gc.collect()
    assert [sys.getrefcount(obj) for obj in watched] == before


@needs_c
def test_memory_stays_flat(session: VMSession) -> None:
    u, read, left = _messages(session)
    for data in read + left:
        CD.decode(u, data, MAX_DEPTH, None)
    tracemalloc.start()
    try:
        for _ in range(2000):
            for data in read + left:
                CD.decode(u, data, MAX_DEPTH, None)
        gc.collect()
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(20000):
            for data in read + left:
                CD.decode(u, data, MAX_DEPTH, None)
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - start < 64 * 1024, f"{end - start} bytes more after 20000 rounds"


def test_without_the_extension_every_message_is_left(session: VMSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CD, "_c", None)
    assert CD.decode(session.universe, b"\x01", MAX_DEPTH, None) is NOT_DONE


@needs_c
def test_the_context_holds_no_reference_to_the_universe() -> None:
    u, message = vm_message()
    data = W.encode(u, message)
    gc.collect()
    before = sys.getrefcount(u)
    assert CD.decode(u, data, MAX_DEPTH, None) is not NOT_DONE        # makes the universe's context
    gc.collect()
    assert sys.getrefcount(u) == before
