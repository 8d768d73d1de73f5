"""The wire writer's C accelerator (node/wire_c_encoder.c through node/wire_c_encoding.py,
issue 19) against the Python writer that defines the format: the same bytes for every
generated graph and depth limit, giving up — never other bytes, never an exception —
on whatever it does not write the same way (broken internals included), and no
reference leaked."""
from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys

import pytest
from conftest import VMSession, examples
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from wire_support import build, recipes, with_wire_classes, writer_bytes

from smalltalk_vm.bench import wire as bench_wire
from smalltalk_vm.node import wire as W
from smalltalk_vm.node import wire_c_decoding as CD
from smalltalk_vm.node import wire_c_encoding as CE
from smalltalk_vm.node import wire_fast_encoder as FE
from smalltalk_vm.node.wire_encoder import Encoder
from smalltalk_vm.node.wire_tags import C_ACCELERATORS_WANTED
from smalltalk_vm.vm import value as V

MAX_DEPTH = W.DEFAULT_MAX_DEPTH
SETTINGS = settings(max_examples=examples(1.5), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def session(shared_vm: VMSession) -> VMSession:
    return with_wire_classes(shared_vm)


def test_both_accelerators_are_built_exactly_where_a_c_compiler_is() -> None:
    """The install builds them whenever it can: without them the codec is correct but
    several times slower, and the C tests here and in test_wire_c_decoder.py would test
    nothing. Without a compiler neither may pretend to be there (the package itself is
    tested without one in test_layout.py)."""
    built = bool(shutil.which("cc") or shutil.which("gcc")) and C_ACCELERATORS_WANTED    # VM_WIRE_C=0: none
    assert (built, built) == (CE.AVAILABLE, CD.AVAILABLE), \
        "the wire accelerators (writer, reader) are not what this machine's C compiler can build"


def test_vm_wire_c_0_turns_both_off() -> None:
    code = ("from smalltalk_vm.node import wire_c_decoding as CD, wire_c_encoding as CE; "
            "print(CE.AVAILABLE, CD.AVAILABLE)")
    env = {**os.environ, "VM_WIRE_C": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False", out.stderr


needs_c = pytest.mark.skipif(not CE.AVAILABLE, reason="no C compiler on this machine: the Python paths are tested")


@needs_c
@SETTINGS
@given(recipe=recipes(), max_depth=st.sampled_from([1, 2, 3, 4, 6, 256]))
def test_the_c_writer_writes_the_same_bytes_or_gives_up(session: VMSession, recipe: tuple, max_depth: int) -> None:
    note(repr(recipe))
    u = session.universe
    original = build(session, recipe)
    expected = writer_bytes(u, original, max_depth)
    written = CE.encode(u, original, max_depth, None)
    if isinstance(expected, W.WireError):
        assert written is CE.NOT_DONE, f"the writer refuses this ({expected}) but the C pass wrote it"
    elif written is CE.NOT_DONE:
        event("C writer gave up")
        assert FE.encode(u, original, max_depth, None) is FE.NOT_DONE, "the Python fast writer writes it"
    else:
        event("C writer wrote it")
        assert written == expected


@needs_c
def test_the_c_writer_writes_the_usual_message(session: VMSession) -> None:
    """The mixed message bench.wire times, and every kind the C pass writes itself: if
    it gave up on these, the property above would prove nothing about speed."""
    u, message = bench_wire.vm_message()
    assert CE.encode(u, message, MAX_DEPTH, None) == Encoder(u, MAX_DEPTH).encode(message)
    u = session.universe
    value = session.value("""| d s v | d := Dictionary new.
        d at: 'name' put: 'x'; at: #k put: 2.5; at: 3 put: (2 raisedTo: 90); at: 4 put: (2 raisedTo: 64).
        v := Vector new. v append: 1; append: 'two'; append: v.
        s := Set new. s add: 1; add: 'b'; add: #c.
        ^ { d. #(1 -2 300000 #sym $c nil true false 1.5). 'text' . 'ütf ✓'. Array new: 4 withAll: 'item'.
            v. s. (2 raisedTo: 63) negated. (2 raisedTo: 64) negated - 1. (ByteArray new: 3). WireTestPoint new.
            Error new. Integer. 0.0 - 0.0 } """)
    data = CE.encode(u, value, MAX_DEPTH, None)
    assert data is not CE.NOT_DONE and data == Encoder(u, MAX_DEPTH).encode(value)
    assert b"\xd8\x1c" in data and b"\xd8\x1d" in data          # 'item' and the Vector are shared


@needs_c
def test_sharing_is_numbered_in_writing_order(session: VMSession) -> None:
    """Several shared objects, a reference just before a shared object starts, an
    Array inside itself, an object whose field holds itself."""
    u = session.universe
    a, b = u.new_string("a"), u.new_string("b")
    inner = u.new_array([])
    inner.items = [inner, b]
    point = session.value("WireTestPoint new")
    point.fields[0] = point
    value = u.new_array([a, b, a, inner, a, b, point, inner, point])
    data = CE.encode(u, value, MAX_DEPTH, None)
    assert data is not CE.NOT_DONE and data == Encoder(u, MAX_DEPTH).encode(value)
    for limit in range(1, 9):       # where the sharing tags push it over the limit, both refuse
        expected = writer_bytes(u, value, limit)
        written = CE.encode(u, value, limit, None)
        assert written == expected if written is not CE.NOT_DONE else True
        if isinstance(expected, W.WireError):
            assert written is CE.NOT_DONE


@needs_c
@pytest.mark.parametrize("breakage", ["count negative", "count a String", "keys not an Array",
                                      "vector first past last", "fields missing", "chars not text",
                                      "items not a list", "lone surrogate", "raw python int"])
def test_broken_internals_are_left_to_the_writer(session: VMSession, breakage: str, monkeypatch) -> None:
    """Objects whose internals are not what their class expects: the C pass gives up,
    and wire.encode answers what the Python writers answer (bytes or WireError)."""
    u = session.universe
    d = session.value("Dictionary new at: 1 put: 2; yourself")
    v = session.value("Vector new append: 1; yourself")
    broken = {
        "count negative": lambda: d.fields.__setitem__(u.field_index(d.cls, "count"), u.make_int(-1)) or d,
        "count a String": lambda: d.fields.__setitem__(u.field_index(d.cls, "count"), u.new_string("1")) or d,
        "keys not an Array": lambda: d.fields.__setitem__(u.field_index(d.cls, "keyArray"), V.NIL) or d,
        "vector first past last": lambda: v.fields.__setitem__(u.field_index(v.cls, "first"), u.make_int(9)) or v,
        "fields missing": lambda: _truncated(session.value("WireTestPoint new")),
        "chars not text": lambda: _with(u.new_string("x"), "chars", 42),
        "items not a list": lambda: _with(u.new_array([]), "items", (1, 2)),
        "lone surrogate": lambda: u.new_string("a\ud800"),
        "raw python int": lambda: u.new_array([-5]),
    }[breakage]()
    value = u.new_array([broken])
    assert CE.encode(u, value, MAX_DEPTH, None) is CE.NOT_DONE
    answered = answer(u, value)
    monkeypatch.setattr(CE, "_c", None)
    expected = answer(u, value)
    assert type(answered) is type(expected)
    if isinstance(expected, bytes):
        assert answered == expected


def answer(u, value) -> bytes | W.WireError:
    try:
        return W.encode(u, value)
    except W.WireError as error:
        return error


def _truncated(obj):
    del obj.fields[1:]
    return obj


def _with(obj, slot: str, value):
    setattr(obj, slot, value)
    return obj


@needs_c
def test_the_c_writer_sees_a_class_redefined_between_messages(session: VMSession) -> None:
    u = session.universe
    session.define("WireCLayoutProbe = Object ( | a b | )")
    first = CE.encode(u, session.value("WireCLayoutProbe new"), MAX_DEPTH, None)
    assert first == Encoder(u, MAX_DEPTH).encode(session.value("WireCLayoutProbe new"))
    session.define("WireCLayoutProbe = Object ( | a c b | )")
    obj = session.value("WireCLayoutProbe new")
    assert CE.encode(u, obj, MAX_DEPTH, None) == Encoder(u, MAX_DEPTH).encode(obj) != first
    session.define("WireCLayoutProbe = Error ( | a c b | )")
    obj = session.value("WireCLayoutProbe new")
    assert CE.encode(u, obj, MAX_DEPTH, None) == Encoder(u, MAX_DEPTH).encode(obj)    # now an exception


@needs_c
def test_the_c_writer_leaks_no_reference(session: VMSession) -> None:
    """Every object of the message holds as many references after many writes as
    before, and a write of an object it gives up on as well."""
    u, message = bench_wire.vm_message()
    broken = u.new_array([message, u.new_string("a\ud800")])
    objects = [message, broken, *message.items]
    CE.encode(u, message, MAX_DEPTH, None)
    gc.collect()
    before = [sys.getrefcount(obj) for obj in objects]
    for _ in range(2000):
        CE.encode(u, message, MAX_DEPTH, None)
        CE.encode(u, broken, MAX_DEPTH, None)
    gc.collect()
    assert [sys.getrefcount(obj) for obj in objects] == before


@needs_c
@pytest.mark.parametrize("leaf", ["int", "symbol", "string", "empty array", "shared string", "object"])
def test_levels_are_counted_as_the_writer_counts_them(session: VMSession, leaf: str) -> None:
    """Arrays nested one to six deep around each kind of leaf, under every limit from
    one to seven: the C pass writes exactly what the writer writes, refuses (gives up)
    wherever the writer refuses, and gives up on nothing else the Python fast writer
    writes (near the limit with sharing, both leave it to the writer)."""
    u = session.universe
    shared = u.new_string("s")
    leaves = {"int": lambda: u.make_int(7), "symbol": lambda: u.symbol("sym"), "string": lambda: u.new_string("t"),
              "empty array": lambda: u.new_array([]), "shared string": lambda: u.new_array([shared, shared]),
              "object": lambda: session.value("WireTestPoint new")}
    for depth in range(1, 7):
        value = leaves[leaf]()
        for _ in range(depth):
            value = u.new_array([value, u.make_int(1)])
        for limit in range(1, 8):
            expected = writer_bytes(u, value, limit)
            written = CE.encode(u, value, limit, None)
            if isinstance(expected, W.WireError):
                assert written is CE.NOT_DONE, (depth, limit)
            elif FE.encode(u, value, limit, None) is FE.NOT_DONE:
                assert written is CE.NOT_DONE or written == expected, (depth, limit)
            else:
                assert written == expected, (depth, limit)
