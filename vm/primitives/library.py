"""Primitives for the hot paths of the library's collections written in Smalltalk:
Vector's ``at:``, ``at:put:`` and ``append:`` (lib/Vector.som), Dictionary's
``slotFor:``, ``positionOf:``, ``at:``, ``at:put:`` and ``containsKey:``
(lib/Dictionary.som). Each keeps its Smalltalk body as the fallback, and answers — and
leaves the collection — exactly as that body would:

- only while the Array, Integer and nil methods the bodies send (and a Dictionary's
  own ``slotFor:`` and ``positionOf:``) are the library's, and for Dictionary keys
  whose ``hashcode`` and ``=`` answer without running Smalltalk code (``vm.trivial``);
- only in the states the bodies handle without repairs or errors: an index in range,
  room for one more element, a Dictionary index present.

Otherwise the primitive fails and the body runs. Nothing here changes the
collections' fields, their meaning, or what images and the wire see.
"""
from __future__ import annotations

import weakref
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_CONSTANT,
    KIND_PRIMITIVE,
    VArray,
    VString,
)
from smalltalk_vm.vm.primitives.array import array_length
from smalltalk_vm.vm.primitives.integer import int_and, int_eq
from smalltalk_vm.vm.primitives.object import string_hash
from smalltalk_vm.vm.primitives.registry import primitive
from smalltalk_vm.vm.primitives.string import string_equals, string_hashcode
from smalltalk_vm.vm.trivial import NOT_TRIVIAL, has_shape, trivial_send

_FIELDS = ("keyArray", "valueArray", "count", "index")
_VECTOR_FIELDS = ("first", "last", "storage")
_FAILED = PrimitiveFailed("the Smalltalk body does it")


class _Support:
    """Per universe: what the primitives check before they act. The verdicts are
    kept while the lookup tokens of Array, Integer, nil's class and String stay.
    Used on the universe's VM thread only; never blocks, raises nothing."""

    def __init__(self, vm: Any) -> None:
        self.vm = vm
        self.array, self.integer, self.nil, self.string = vm.Array, vm.Integer, vm.Nil, vm.String
        self.tokens: tuple = (None, None, None, None)
        self.library = False            # the Array, Integer and nil methods the bodies send
        self.plain_keys = False         # SmallInteger and String keys hashed and compared here
        # receiver class -> (its token, field positions or None when the primitives
        # do not apply); a class keeps its token until it or a superclass changes
        self.classes: dict[Any, tuple[Any, tuple[int, ...] | None]] = {}
        self.vectors: dict[Any, tuple[Any, tuple[int, ...] | None]] = {}

    def ready(self) -> bool:
        if self.array.token is not self.tokens[0] or self.integer.token is not self.tokens[1] \
                or self.nil.token is not self.tokens[2] or self.string.token is not self.tokens[3]:
            self.refresh()
        return self.library

    def refresh(self) -> None:
        vm = self.vm
        array, integer, nil, string = self.array, self.integer, self.nil, self.string
        self.tokens = (array.token, integer.token, nil.token, string.token)
        self.library = all(has_shape(vm, cls, selector, shape) for cls, selector, shape in (
            (array, "at:", (KIND_ARRAY_AT, None)),
            (array, "at:put:", (KIND_ARRAY_AT_PUT, None)),
            (array, "length", (KIND_PRIMITIVE, array_length)),
            (array, "isNil", (KIND_CONSTANT, V.FALSE)),
            (integer, "isNil", (KIND_CONSTANT, V.FALSE)),
            (nil, "isNil", (KIND_CONSTANT, V.TRUE))))
        self.plain_keys = all(has_shape(vm, cls, selector, shape) for cls, selector, shape in (
            (integer, "hashcode", (KIND_CONSTANT, None)),
            (integer, "&", (KIND_PRIMITIVE, int_and)),
            (integer, "=", (KIND_PRIMITIVE, int_eq)),
            (string, "hashcode", (KIND_PRIMITIVE, string_hashcode)),
            (string, "=", (KIND_PRIMITIVE, string_equals))))

    def positions(self, cls: Any) -> tuple[int, ...] | None:
        """Where a Dictionary's four fields are in instances of ``cls``."""
        entry = self.classes.get(cls)
        if entry is not None and entry[0] is cls.token:
            return entry[1]
        vm = self.vm
        names = vm.all_field_names(cls)
        positions = None
        if all(name in names for name in _FIELDS) and all(
                _is_ours(vm.lookup(cls, selector)) for selector in ("slotFor:", "positionOf:")):
            positions = tuple(names.index(name) for name in _FIELDS)
        self.classes[cls] = (cls.token, positions)
        return positions

    def vector_positions(self, cls: Any) -> tuple[int, ...] | None:
        """Where a Vector's three fields are in instances of ``cls``."""
        entry = self.vectors.get(cls)
        if entry is not None and entry[0] is cls.token:
            return entry[1]
        names = self.vm.all_field_names(cls)
        positions = tuple(names.index(name) for name in _VECTOR_FIELDS) \
            if all(name in names for name in _VECTOR_FIELDS) else None
        self.vectors[cls] = (cls.token, positions)
        return positions


def _is_ours(method: Any) -> bool:
    return method is not None and method.kind == KIND_PRIMITIVE and method.primitive in _OURS


_SUPPORT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# the universe asked last and its support, as one tuple: universes on other threads
# replace it whole, so a reader never sees one universe with another's support
_last: tuple = (None, None)


def _support(vm: Any) -> _Support:
    global _last
    last = _last
    if last[0] is vm:
        return last[1]
    found = _SUPPORT.get(vm)
    if found is None:
        found = _SUPPORT[vm] = _Support(vm)
    _last = (vm, found)
    return found


def _state(vm: Any, rcv: Any) -> tuple[_Support, tuple, list, list, int, list]:
    """(support, field positions, keys, values, count, index items) of a Dictionary
    the primitives may act on; PrimitiveFailed otherwise."""
    last = _last
    support = last[1] if last[0] is vm else _support(vm)
    try:
        positions = support.positions(rcv.cls)
        k, v, c, i = positions
        fields = rcv.fields
        keys, values, count, index = fields[k], fields[v], fields[c], fields[i]
    except (AttributeError, TypeError, IndexError):
        raise _FAILED from None         # not an object with the four fields
    array = support.array
    if type(index) is not VArray or index.cls is not array or type(keys) is not VArray or keys.cls is not array \
            or type(values) is not VArray or values.cls is not array \
            or not (type(count) is int and V.INT_LO <= count < V.INT_HI) or not support.ready():
        raise _FAILED
    return support, positions, keys.items, values.items, count - V.ZERO, index.items


def _slot(vm: Any, support: _Support, key: Any, keys: list, index: list) -> int:
    """slotFor:'s probe (0-based here): the slot holding ``key``, or the free one."""
    size = len(index)
    if size == 0:
        raise _FAILED
    plain = support.plain_keys
    if plain and type(key) is int and key < V.INT_HI:
        slot = (key - V.ZERO) & (size - 1)
        # A SmallInteger key: a stored SmallInteger is equal exactly when it is the
        # same word; any other stored key is asked (vm.trivial)
        for _ in range(size):
            position = index[slot]
            if position == V.NIL:
                return slot
            stored = keys[position - V.ONE] if type(position) is int and V.ONE <= position < V.ONE + len(keys) \
                else _bad_position()
            if stored == key or (not (type(stored) is int and stored < V.INT_HI) and _equal(vm, stored, key)):
                return slot
            slot = slot + 1 if slot + 1 < size else 0
        raise _FAILED
    if plain and type(key) is VString and key.cls is support.string:
        h = key.h
        if not h:
            h = key.h = string_hash(key.chars) or 1
        slot = h & (size - 1)
        chars = key.chars
        string = support.string
        for _ in range(size):
            position = index[slot]
            if position == V.NIL:
                return slot
            stored = keys[position - V.ONE] if type(position) is int and V.ONE <= position < V.ONE + len(keys) \
                else _bad_position()
            if type(stored) is VString and stored.cls is string:
                if stored.chars == chars:
                    return slot
            elif _equal(vm, stored, key):
                return slot
            slot = slot + 1 if slot + 1 < size else 0
        raise _FAILED
    slot = _hash(vm, key, size)
    for _ in range(size):
        position = index[slot]
        if position == V.NIL:
            return slot
        stored = keys[position - V.ONE] if type(position) is int and V.ONE <= position < V.ONE + len(keys) \
            else _bad_position()
        if _equal(vm, stored, key):
            return slot
        slot = slot + 1 if slot + 1 < size else 0
    raise _FAILED               # a full index: the body loops as it would


def _bad_position() -> Any:
    raise _FAILED


def _hash(vm: Any, key: Any, size: int) -> int:
    """``(key hashcode & (size - 1))``, 0-based, asked of the key's own methods."""
    h = trivial_send(vm, key, "hashcode", ())
    if h is NOT_TRIVIAL:
        raise _FAILED
    masked = trivial_send(vm, h, "&", (vm.make_int(size - 1),))
    if not (type(masked) is int and V.INT_LO <= masked < V.INT_HI) or not 0 <= masked - V.ZERO < size:
        raise _FAILED
    return masked - V.ZERO


def _equal(vm: Any, stored: Any, key: Any) -> bool:
    """``stored = key`` asked of the stored key's own method (it is the receiver in
    the body); a method that runs code, or an answer that is not a Boolean, leaves
    it to the body."""
    same = trivial_send(vm, stored, "=", (key,))
    if same == V.TRUE:
        return True
    if same != V.FALSE:
        raise _FAILED
    return False


@primitive("Dictionary", "slotFor:")
def dictionary_slot_for(vm, rcv, key):
    support, _, keys, _, _, index = _state(vm, rcv)
    return vm.make_int(_slot(vm, support, key, keys, index) + 1)


@primitive("Dictionary", "positionOf:")
def dictionary_position_of(vm, rcv, key):
    support, _, keys, _, _, index = _state(vm, rcv)
    return index[_slot(vm, support, key, keys, index)]


@primitive("Dictionary", "at:")
def dictionary_at(vm, rcv, key):
    support, _, keys, values, _, index = _state(vm, rcv)
    position = index[_slot(vm, support, key, keys, index)]
    if position == V.NIL:
        return V.NIL
    if not V.ONE <= position < V.ONE + len(values):
        raise _FAILED
    return values[position - V.ONE]


@primitive("Dictionary", "containsKey:")
def dictionary_contains_key(vm, rcv, key):
    support, _, keys, _, _, index = _state(vm, rcv)
    return V.FALSE if index[_slot(vm, support, key, keys, index)] == V.NIL else V.TRUE


@primitive("Dictionary", "at:put:")
def dictionary_at_put(vm, rcv, key, value):
    support, positions, keys, values, count, index = _state(vm, rcv)
    slot = _slot(vm, support, key, keys, index)
    position = index[slot]
    if position != V.NIL:
        if not V.ONE <= position < V.ONE + len(values):
            raise _FAILED
        values[position - V.ONE] = value
        return rcv
    if count >= len(keys) or count >= len(values) or count < 0:
        raise _FAILED                      # the body grows the arrays first
    keys[count] = key
    values[count] = value
    count += 1
    rcv.fields[positions[2]] = vm.make_int(count)
    index[slot] = vm.make_int(count)
    return rcv


_OURS = frozenset({dictionary_slot_for, dictionary_position_of})


# ---------------------------------------------------------------- Vector

def _vector(vm: Any, rcv: Any) -> tuple[_Support, tuple, list, Any, Any, list]:
    """(support, positions, fields, first, last, storage items) of a Vector the
    primitives may act on (first and last still words); PrimitiveFailed otherwise."""
    last = _last
    support = last[1] if last[0] is vm else _support(vm)
    try:
        cls = rcv.cls
        entry = support.vectors.get(cls)
        positions = entry[1] if entry is not None and entry[0] is cls.token else support.vector_positions(cls)
        f, la, st = positions
        fields = rcv.fields
        first, last, storage = fields[f], fields[la], fields[st]
    except (AttributeError, TypeError, IndexError):
        raise _FAILED from None
    tokens = support.tokens
    if type(storage) is not VArray or storage.cls is not support.array \
            or not (type(first) is int and V.INT_LO <= first < V.INT_HI) \
            or not (type(last) is int and V.INT_LO <= last < V.INT_HI) \
            or ((support.array.token is not tokens[0] or support.integer.token is not tokens[1]
                 or support.nil.token is not tokens[2] or support.string.token is not tokens[3])
                and not support.ready()) or not support.library:
        raise _FAILED
    return support, positions, fields, first, last, storage.items


@primitive("Vector", "at:")
def vector_at(vm, rcv, index):
    _, _, _, first, last, items = _vector(vm, rcv)
    if type(index) is int and V.ONE <= index < V.INT_HI:
        i = index + first - V.ONE - V.ZERO          # index + first - 1, as an int
        if i < last - V.ZERO and 1 <= i <= len(items):
            return items[i - 1]
    raise _FAILED                   # the body reports the index error


@primitive("Vector", "at:put:")
def vector_at_put(vm, rcv, index, value):
    _, _, _, first, last, items = _vector(vm, rcv)
    if type(index) is int and V.ONE <= index < V.INT_HI:
        i = index + first - V.ONE - V.ZERO
        if i < last - V.ZERO and 1 <= i <= len(items):
            items[i - 1] = value
            return value
    raise _FAILED


@primitive("Vector", "append:")
def vector_append(vm, rcv, element):
    _, positions, fields, _, last, items = _vector(vm, rcv)
    n = last - V.ZERO
    if not 1 <= n <= len(items):
        raise _FAILED               # the body makes room first
    items[n - 1] = element
    fields[positions[1]] = last + 1
    return rcv
