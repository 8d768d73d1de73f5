"""Duplicate keys on the wire (RFC 8949 §5.6): a CBOR map with two keys, or a Set with
two elements, that the VM's ``=`` holds equal is refused with WireError instead of
becoming a Dictionary or Set with two equal entries. The oracle of the generated tests
is the VM itself: a pair of keys is a duplicate exactly when ``k1 = k2`` answers true
in the VM. Keys whose class has its own ``=`` are caught by the Dictionary when it
builds its index (it can run ``=``; the decoder cannot)."""
from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import VMSession
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smalltalk_vm.node import wire as W
from smalltalk_vm.vm import value as V

GENERATED = settings(max_examples=300, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def session() -> VMSession:
    vm = VMSession()
    vm.define("""WireDupKey = Object ( | id note |
        id = ( ^ id ) id: anId note: aNote = ( id := anId. note := aNote )
        = other = ( ^ (other isKindOf: WireDupKey) and: [ id = other id ] )
        hashcode = ( ^ id hashcode ) )""")
    return vm


def head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    return bytes([major << 5 | 27]) + n.to_bytes(8, "big")


# ---------------------------------------------------------------------- keys
# A key recipe is plain data; small ranges so that equal pairs come up often.

key_leaves = st.one_of(
    st.sampled_from([("nil",), ("true",), ("false",)]),
    st.builds(lambda n: ("int", n), st.one_of(st.integers(-2, 2), st.sampled_from([2 ** 47, 2 ** 64, 2 ** 70]))),
    st.builds(lambda x: ("double", x), st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, math.nan, math.inf,
                                                        float(2 ** 47), float(2 ** 64), float(2 ** 70)])),
    st.builds(lambda s: ("string", s), st.sampled_from(["", "a", "b", "ab"])),
    st.builds(lambda s: ("symbol", s), st.sampled_from(["a", "b", "ab"])),
    st.builds(lambda c: ("char", c), st.sampled_from([97, 98, 0])),
    st.builds(lambda b: ("bytes", b), st.sampled_from([b"", b"a", b"\x00"])),
)
key_recipes = st.recursive(key_leaves, lambda inner: st.builds(lambda items: ("array", items),
                                                              st.lists(inner, max_size=2)), max_leaves=4)


def build(session: VMSession, recipe: tuple) -> Any:
    u = session.universe
    kind = recipe[0]
    if kind in ("nil", "true", "false"):
        return {"nil": V.NIL, "true": V.TRUE, "false": V.FALSE}[kind]
    makers = {"int": u.make_int, "double": float, "string": u.new_string, "symbol": u.symbol,
              "char": V.char_word, "bytes": u.new_bytes}
    if kind == "array":
        return u.new_array([build(session, item) for item in recipe[1]])
    return makers[kind](recipe[1])


def vm_equal(session: VMSession, a: Any, b: Any) -> bool:
    outcome = session.machine.send(a, "=", [b])
    assert outcome.status == "value", outcome.error_text
    return outcome.value == V.TRUE


def any_equal_pair(session: VMSession, keys: list) -> bool:
    return any(vm_equal(session, keys[i], keys[j]) for i in range(len(keys)) for j in range(i + 1, len(keys)))


@GENERATED
@given(recipes=st.lists(key_recipes, min_size=1, max_size=5))
def test_a_map_decodes_exactly_when_no_two_keys_are_equal(session: VMSession, recipes: list) -> None:
    u = session.universe
    keys = [build(session, r) for r in recipes]
    data = head(5, len(keys)) + b"".join(W.encode(u, k) + W.encode(u, u.make_int(i)) for i, k in enumerate(keys))
    duplicated = any_equal_pair(session, keys)
    try:
        decoded = W.decode(u, data)
    except W.WireError as error:
        assert duplicated, f"refused without equal keys: {error}"
        assert "duplicate keys" in str(error) and "8949" in str(error)
        return
    assert not duplicated, f"decoded a map with equal keys: {data.hex()}"
    for i, key in enumerate(keys):                   # every entry is found under its own key
        found = session.machine.send(decoded, "at:", [key])
        assert (found.status, found.value) == ("value", u.make_int(i)), (i, found.error_text)


@GENERATED
@given(recipes=st.lists(key_recipes, min_size=1, max_size=5))
def test_a_set_decodes_exactly_when_no_two_elements_are_equal(session: VMSession, recipes: list) -> None:
    u = session.universe
    elements = [build(session, r) for r in recipes]
    data = bytes.fromhex("d9c740") + head(4, len(elements)) + b"".join(W.encode(u, e) for e in elements)
    duplicated = any_equal_pair(session, elements)
    try:
        decoded = W.decode(u, data)
    except W.WireError as error:
        assert duplicated, f"refused without equal elements: {error}"
        assert "duplicate elements" in str(error)
        return
    assert not duplicated, f"decoded a Set with equal elements: {data.hex()}"
    size = session.machine.send(decoded, "size")
    assert size.value == u.make_int(len(elements))


@pytest.mark.parametrize("hexes", [
    "a2 01 00 01 00",                 # the same key twice
    "a2 01 00 1801 00",               # the same integer in two encodings
    "a2 01 00 f93c00 00",             # 1 and 1.0
    "a2 f90000 00 f98000 00",         # 0.0 and -0.0
    "a2 6161 00 d9c739 6161 00",      # 'a' and #a
    "a3 c2 49 010000000000000000 00 1b ffffffffffffffff 00 c2 49 010000000000000000 00",  # 2^64 twice
    "a2 82 01 61 61 00 82 f93c00 d9c739 6161 00",   # #(1 'a') and #(1.0 #a)
    "a2 d81c 80 00 d81d00 00",        # one shared Array used as a key twice
    "d9c740 82 01 01",                # a Set: {1, 1}
    "d9c740 83 6161 6162 6161",       # {'a', 'b', 'a'}
])
def test_duplicate_keys_are_refused(session: VMSession, hexes: str) -> None:
    data = bytes.fromhex(hexes.replace(" ", ""))
    with pytest.raises(W.WireError, match="duplicate"):
        W.decode(session.universe, data)


@pytest.mark.parametrize("hexes", [
    "a2 f97e00 00 f97e00 00",         # NaN = NaN is false: two NaN keys are two keys
    "a2 01 00 d9c73a 01 00",          # 1 and the Character with code point 1
    "a2 80 00 81 80 00",              # #() and #(#())
    "a2 6161 00 4161 00",             # 'a' and the ByteArray #[97]
])
def test_keys_that_only_look_alike_are_kept(session: VMSession, hexes: str) -> None:
    decoded = W.decode(session.universe, bytes.fromhex(hexes.replace(" ", "")))
    assert session.machine.send(decoded, "size").value == session.universe.make_int(2)


def test_a_class_with_its_own_equality_is_checked_by_the_dictionary(session: VMSession) -> None:
    """Two WireDupKeys with the same id and different notes are = in the VM, which the
    decoder cannot know: the Dictionary refuses them as soon as it builds its index,
    with a WireError, and stays unusable rather than answering one of them."""
    u = session.universe
    u.globals["DupData"] = u.new_bytes(W.encode(u, session.value(
        "| k1 k2 | k1 := WireDupKey new id: 7 note: 'one'. k2 := WireDupKey new id: 7 note: 'two'. "
        "Array with: k1 with: k2")))
    items = "(Wire decode: DupData)"
    # Build the map by hand from the two encoded keys: the VM cannot make such a map itself.
    array = session.value(items)
    first, second = (W.encode(u, k) for k in array.items)
    u.globals["DupMap"] = u.new_bytes(bytes.fromhex("a2") + first + b"\x01" + second + b"\x02")
    assert session.eval("(Wire decode: DupMap) size") == "2"
    text = session.eval("[ (Wire decode: DupMap) at: (WireDupKey new id: 7 note: nil) ] "
                        "on: WireError do: [ :e | e messageText ]")
    assert "two equal keys" in text, text
    assert session.eval("| d | d := Wire decode: DupMap. "
                        "[ d at: 1 ] on: WireError do: [ :e | #first ]. "
                        "[ d at: 1 ] on: WireError do: [ :e | #again ]") == "#again"
    # Distinct ids decode and work.
    u.globals["DupOk"] = u.new_bytes(W.encode(u, session.value(
        "Dictionary new at: (WireDupKey new id: 1 note: 'a') put: 1; "
        "at: (WireDupKey new id: 2 note: 'a') put: 2; yourself")))
    assert session.eval("(Wire decode: DupOk) at: (WireDupKey new id: 2 note: nil)") == "2"
