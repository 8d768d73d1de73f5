"""Tests of the CBOR wire codec (node/wire.py, issue 6) that send values and get them
back: hypothesis round trips over generated VM object graphs (nested, shared, cyclic;
every kind the wire carries), worked examples of sharing, Symbols, exceptions, method
sources, user objects and collections, remote references, and interop with plain cbor2
(and other CBOR writers) in both directions. Refusals, limits and fuzzing are in
tests/test_wire_refusals.py."""
from __future__ import annotations

import math
from typing import Any

import cbor2
import pytest
from conftest import VMSession, examples
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from wire_support import assert_same_graph, build, field, integers, recipes, round_trip, send, with_wire_classes

from smalltalk_vm.node import wire as W
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import VBytes

ROUND_TRIP = settings(max_examples=examples(2), deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def session(shared_vm: VMSession) -> VMSession:
    """The module's machine, with the user classes the graphs instantiate."""
    return with_wire_classes(shared_vm)


# ====================================================================== round trips

@ROUND_TRIP
@given(recipe=recipes())
def test_generated_graphs_round_trip(session: VMSession, recipe: tuple) -> None:
    note(repr(recipe))
    original = build(session, recipe)
    data = W.encode(session.universe, original)
    for kind in sorted({node[0] for node in recipe[0]}):   # every node hangs from the root
        event(f"kind {kind}")
    event("shared or cyclic" if b"\xd8\x1d" in data else "tree")
    assert_same_graph(session.universe, original, W.decode(session.universe, data))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(recipe=recipes(max_nodes=4))
def test_hosted_wire_round_trips_generated_graphs(session: VMSession, recipe: tuple) -> None:
    original = build(session, recipe)
    wire = session.value("Wire")
    data = send(session, wire, "encode:", original)
    assert type(data) is VBytes and bytes(data.data) == W.encode(session.universe, original)
    assert_same_graph(session.universe, original, send(session, wire, "decode:", data))


def test_the_comparison_notices_lost_sharing_and_merged_objects(session: VMSession) -> None:
    u = session.universe
    shared = u.new_string("s")
    with pytest.raises(AssertionError, match="became two"):
        assert_same_graph(u, u.new_array([shared, shared]), u.new_array([u.new_string("s"), u.new_string("s")]))
    merged = u.new_string("s")
    with pytest.raises(AssertionError, match="became one"):
        assert_same_graph(u, u.new_array([u.new_string("s"), u.new_string("s")]), u.new_array([merged, merged]))


@pytest.mark.parametrize("source", [
    "| a | a := Array new: 2. a at: 1 put: a; at: 2 put: 'x'. a",
    "| v | v := Vector new. v append: v; append: v. v",
    "| d | d := Dictionary new. d at: #me put: d. d",
    "| p q | p := WireTestPoint new. q := WireTestPoint4 new. p x: q y: p z: nil. q x: p y: q z: #(1). p",
    "| s a | s := 'shared'. a := Array new: 3. a at: 1 put: s; at: 2 put: (Array with: s with: a); at: 3 put: s. a",
    ("| e | e := Error new messageText: 'boom'; yourself."
     " Array with: e with: e with: (Error new messageText: 'boom'; yourself)"),
    "| m | m := Integer lookup: #max:. Array with: m with: m with: (WireTestPoint class lookup: #x:y:z:)",
])
def test_shared_and_cyclic_examples(session: VMSession, source: str) -> None:
    original = session.value(source)
    data = W.encode(session.universe, original)
    assert b"\xd8\x1c" in data and b"\xd8\x1d" in data
    assert_same_graph(session.universe, original, W.decode(session.universe, data))


def test_sharing_tags_only_for_objects_met_twice(session: VMSession) -> None:
    u = session.universe
    shared = u.new_string("a")
    distinct = u.new_array([u.new_string("a"), u.new_string("a"), u.new_array([u.make_int(1)])])
    assert W.encode(u, distinct) == cbor2.dumps(["a", "a", [1]])
    twice = u.new_array([shared, shared, u.new_array([u.make_int(1)])])
    assert W.encode(u, twice) == bytes.fromhex("83d81c6161d81d00") + cbor2.dumps([1])


def test_symbols_are_interned_again(session: VMSession) -> None:
    u = session.universe
    decoded = W.decode(u, cbor2.dumps(cbor2.CBORTag(W.TAG_SYMBOL, "wireFreshSymbol")))
    assert decoded == u.symbol("wireFreshSymbol")
    assert session.eval("(Wire decode: (Wire encode: #wireFreshSymbol)) == #wireFreshSymbol") == "true"


def test_exceptions_keep_class_and_message(session: VMSession) -> None:
    decoded = round_trip(session, session.value("[ 1 / 0 ] on: ZeroDivide do: [ :e | e ]"))
    assert decoded.cls.name == "ZeroDivide"
    assert session.machine.print_string(decoded) == "ZeroDivide: Division by zero."
    caught = session.value("[ (Wire decode: (Wire encode: (WireTestError new messageText: 'far'; yourself))) signal ]"
                           " on: WireTestError do: [ :e | e messageText ]")
    assert caught.chars == "far"


def test_method_source_decodes_as_method_source(session: VMSession) -> None:
    source = session.value("Wire decode: (Wire encode: (WireTestPoint class lookup: #x:y:z:))")
    assert session.machine.print_string(source) == "MethodSource(WireTestPoint class)"
    text = session.value("(Wire decode: (Wire encode: (MethodSource of: (Integer lookup: #max:)))) source")
    assert text.chars == session.value("(Integer lookup: #max:) source").chars


def test_user_objects_decode_by_field_name(session: VMSession) -> None:
    u = session.universe
    data = cbor2.dumps(cbor2.CBORTag(W.TAG_OBJECT, ["WireTestPoint4", {"w": 4, "x": 1}]))
    point = W.decode(u, data)
    assert point.cls.name == "WireTestPoint4"
    assert [session.machine.print_string(f) for f in point.fields] == ["1", "nil", "nil", "4"]
    with pytest.raises(W.WireError, match="WireTestPoint has no field q"):
        W.decode(u, cbor2.dumps(cbor2.CBORTag(W.TAG_OBJECT, ["WireTestPoint", {"q": 1}])))


def test_decoded_dictionaries_and_sets_work(session: VMSession) -> None:
    assert session.eval("| d | d := Wire decode: (Wire encode:"
                        " (Dictionary new at: 'k' put: 1; at: 2 put: #v; yourself))."
                        " (d at: 'k') + (d at: 3 ifAbsent: [ 10 ])") == "11"
    assert session.eval("| s | s := Wire decode: (Wire encode: (Set withAll: #(1 2 'x')))."
                        " s add: 'x'; add: 3. s size") == "4"
    assert session.eval("| v | v := Wire decode: (Wire encode: (Vector new append: 1; append: 2; yourself))."
                        " v append: 3. v size + v last") == "6"


def test_array_subclass_instances_keep_their_class(session: VMSession) -> None:
    """Known bug (reported): an instance of an Array subclass decodes as a plain Array."""
    session.define("WireTestArray = Array ( )")
    decoded = round_trip(session, session.value("WireTestArray new: 2"))
    assert decoded.cls.name == "WireTestArray"


# ====================================================================== decoding only

def test_remote_references_go_to_the_node_layer(session: VMSession) -> None:
    u = session.universe
    seen = []

    class Refs:
        node_class = None

        def remote_object(self, *record):
            seen.append(record)
            return u.symbol("proxy")
    reference = cbor2.CBORTag(W.TAG_REMOTE_REF, ["node@host", 7, b"\x01" * 16, "Counter", 0])
    decoded = W.decode(u, cbor2.dumps([reference] * 2), node_refs=Refs())
    assert decoded.items == [u.symbol("proxy")] * 2 and seen == [("node@host", 7, b"\x01" * 16, "Counter", 0)] * 2
    with pytest.raises(W.WireError, match="outside the node layer"):
        W.decode(u, cbor2.dumps(reference))


def test_other_cbor_float_widths_decode(session: VMSession) -> None:
    u = session.universe
    assert W.decode(u, bytes.fromhex("f93e00")) == 1.5
    assert W.decode(u, bytes.fromhex("f90001")) == 2.0 ** -24
    assert W.decode(u, bytes.fromhex("f9fc00")) == -math.inf
    assert math.isnan(W.decode(u, bytes.fromhex("f97e00")))
    assert W.decode(u, bytes.fromhex("fa47c35000")) == 100000.0
    assert W.decode(u, bytes.fromhex("f7")) == V.NIL


# ====================================================================== interop

json_like = st.recursive(
    st.none() | st.booleans() | integers | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5) | integers, inner, max_size=4),
    max_leaves=20)


def to_vm(session: VMSession, value: Any) -> Any:
    u = session.universe
    if value is None or isinstance(value, bool):
        return {None: V.NIL, True: V.TRUE, False: V.FALSE}[value]
    if isinstance(value, int):
        return u.make_int(value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return u.new_string(value)
    if isinstance(value, list):
        return u.new_array([to_vm(session, item) for item in value])
    dictionary = session.value("Dictionary new")
    for key, item in value.items():
        send(session, dictionary, "at:put:", to_vm(session, key), to_vm(session, item))
    return dictionary


@settings(max_examples=examples(1.5), deadline=None, derandomize=True)
@given(value=json_like)
def test_plain_data_is_plain_cbor_both_ways(session: VMSession, value: Any) -> None:
    u = session.universe
    original = to_vm(session, value)
    assert cbor2.loads(W.encode(u, original)) == value
    assert_same_graph(u, original, W.decode(u, cbor2.dumps(value)))


def test_plain_cbor_examples(session: VMSession) -> None:
    u = session.universe
    data = W.encode(u, session.value(
        "Array with: nil with: true with: (2 raisedTo: 70) negated"
        " with: (Dictionary new at: 'k' put: 1.5; at: 7 put: #(); yourself)"))
    assert cbor2.loads(data) == [None, True, -2 ** 70, {"k": 1.5, 7: []}]
    assert cbor2.loads(W.encode(u, u.make_int(2 ** 64))) == 2 ** 64
    nan = cbor2.loads(W.encode(u, math.nan))
    assert math.isnan(nan)
    tagged = cbor2.loads(W.encode(u, session.value("Array with: #sym with: $a")))
    assert tagged == [cbor2.CBORTag(W.TAG_SYMBOL, "sym"), cbor2.CBORTag(W.TAG_CHARACTER, 97)]
    cyclic = cbor2.loads(W.encode(u, session.value("| a | a := Array new: 1. a at: 1 put: a. a")))
    assert cyclic[0] is cyclic


def test_what_cbor2_writes_with_sharing_or_canonical_floats_decodes(session: VMSession) -> None:
    u = session.universe
    inner = ["x"]
    outer: list = [inner, inner, {"k": inner}]
    outer.append(outer)
    decoded = W.decode(u, cbor2.dumps(outer, value_sharing=True))
    assert decoded.items[0] is decoded.items[1] is field(u, decoded.items[2], "valueArray").items[0]
    assert decoded.items[3] is decoded
    canonical = W.decode(u, cbor2.dumps([1.5, 0.1, -0.0, 2 ** 80], canonical=True))
    assert canonical.items[:2] == [1.5, 0.1] and math.copysign(1, canonical.items[2]) == -1
    assert canonical.items[3].n == 2 ** 80
