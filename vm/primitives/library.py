"""Primitives for the hot paths of the library's collections written in Smalltalk:
Vector's ``at:``, ``at:put:`` and ``append:`` (lib/Vector.som), Dictionary's
``slotFor:``, ``positionOf:``, ``at:``, ``at:ifAbsent:``, ``at:put:``, ``containsKey:``,
``initialize:`` and ``grow`` (lib/Dictionary.som); ``contains`` and ``put`` do the
work of two of them for Set's primitives (``vm.primitives.library_set``). Each keeps
its Smalltalk body as the fallback, and answers — and leaves the collection — exactly
as that body would:

- only while the Array, Integer and nil methods the bodies send (and the Dictionary
  methods a body sends to self: ``slotFor:``, ``positionOf:``, and for growing
  ``grow``, ``initialize:`` and ``at:put:``) are the library's, and for Dictionary keys
  whose ``hashcode`` and ``=`` answer without running Smalltalk code (``vm.trivial``);
- only in the states the bodies handle without repairs or errors: an index in range,
  a Dictionary index present, sizes within the collection limits;
- ``at:ifAbsent:`` evaluates no block: for an absent key it answers only a block that
  answers a constant (``vm.constants``), and leaves any other to the body.

Those verdicts are taken once per receiver class and kept until any lookup anywhere
may have changed (the universe's ``lookup_epoch``), so a call checks one identity.

Otherwise the primitive fails and the body runs. Nothing here changes the
collections' fields, their meaning, or what images and the wire see.
"""
from __future__ import annotations

import weakref
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.constants import NOT_CONSTANT, block_constant
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.limits import MAX_ELEMENTS
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_BLOCK_VALUE,
    KIND_CONSTANT,
    KIND_PRIMITIVE,
    Closure,
    VArray,
    VString,
    is_primitive,
)
from smalltalk_vm.vm.primitives.array import array_length, array_new
from smalltalk_vm.vm.primitives.integer import int_and, int_eq, int_lt, int_mul
from smalltalk_vm.vm.primitives.object import string_hash
from smalltalk_vm.vm.primitives.registry import primitive
from smalltalk_vm.vm.primitives.string import string_equals, string_hashcode
from smalltalk_vm.vm.trivial import NOT_TRIVIAL, has_shape, trivial_send

_FIELDS = ("keyArray", "valueArray", "count", "index")
_VECTOR_FIELDS = ("first", "last", "storage")
_FAILED = PrimitiveFailed("the Smalltalk body does it")
_NIL, _ZERO, _ONE, _INT_HI = V.NIL, V.ZERO, V.ONE, V.INT_HI
_TRUE, _FALSE = V.TRUE, V.FALSE
_ABSENT = object()
# A Dictionary's capacity the primitives allocate for; beyond it the body runs (and
# meets the collection limits itself)
_MAX_CAPACITY = MAX_ELEMENTS // 4
_NO_DICTIONARY = (None, None, False)


class _Support:
    """Per universe: what the primitives check before they act, decided once per
    receiver class and kept until the universe's ``lookup_epoch`` changes (any
    method or class definition anywhere). Used on the universe's VM thread only;
    never blocks, raises nothing."""

    def __init__(self, vm: Any) -> None:
        self.vm = vm
        self.epoch: Any = None
        self.array = self.integer = self.nil = self.string = None
        self.block: Any = None          # the class of blocks of no arguments, while value evaluates them
        self.library = False            # the Array, Integer and nil methods the bodies send
        self.plain_keys = False         # SmallInteger and String keys hashed and compared here
        self.allocates = False          # initialize:'s Integer arithmetic and Array new:
        # receiver class -> (probe positions or None, field positions or None, whether
        # grow may run here): the four fields' positions when the class has them
        # (probe positions also need the library's slotFor: and positionOf:); both
        # tables hold verdicts of the current epoch only (refresh empties them)
        self.classes: dict[Any, tuple] = {}
        self.vectors: dict[Any, tuple[int, ...] | None] = {}

    def refresh(self) -> None:
        vm = self.vm
        self.epoch = vm.lookup_epoch
        self.classes.clear()
        self.vectors.clear()
        array, integer, nil, string = self.array, self.integer, self.nil, self.string = \
            vm.Array, vm.Integer, vm.Nil, vm.String
        self.library = all(has_shape(vm, cls, selector, shape) for cls, selector, shape in (
            (array, "at:", (KIND_ARRAY_AT, None)),
            (array, "at:put:", (KIND_ARRAY_AT_PUT, None)),
            (array, "length", (KIND_PRIMITIVE, array_length)),
            (array, "isNil", (KIND_CONSTANT, V.FALSE)),
            (integer, "isNil", (KIND_CONSTANT, V.FALSE)),
            (nil, "isNil", (KIND_CONSTANT, V.TRUE))))
        block = vm.block_classes[0]
        self.block = block if has_shape(vm, block, "value", (KIND_BLOCK_VALUE, None)) else None
        self.plain_keys = all(has_shape(vm, cls, selector, shape) for cls, selector, shape in (
            (integer, "hashcode", (KIND_CONSTANT, None)),
            (integer, "&", (KIND_PRIMITIVE, int_and)),
            (integer, "=", (KIND_PRIMITIVE, int_eq)),
            (string, "hashcode", (KIND_PRIMITIVE, string_hashcode)),
            (string, "=", (KIND_PRIMITIVE, string_equals))))
        self.allocates = all(has_shape(vm, cls, selector, shape) for cls, selector, shape in (
            (integer, "<", (KIND_PRIMITIVE, int_lt)),
            (integer, "*", (KIND_PRIMITIVE, int_mul)),
            (array.cls, "new:", (KIND_PRIMITIVE, array_new))))

    def current(self) -> _Support:
        """The support with verdicts of the universe's current epoch."""
        if self.epoch is not self.vm.lookup_epoch:
            self.refresh()
        return self

    def dictionary(self, cls: Any) -> tuple:
        """The verdict on a receiver class (see ``classes``)."""
        vm = self.vm
        if self.epoch is not vm.lookup_epoch:
            self.refresh()
        if cls is None or not hasattr(cls, "instance_fields"):
            return _NO_DICTIONARY
        names = vm.all_field_names(cls)
        fields = tuple(names.index(name) for name in _FIELDS) if all(name in names for name in _FIELDS) else None
        probes = fields if fields is not None and self.library and all(
            is_primitive(vm.lookup(cls, selector), function)
            for selector, function in (("slotFor:", dictionary_slot_for), ("positionOf:", dictionary_position_of))) \
            else None
        grows = probes is not None and self.allocates and all(
            is_primitive(vm.lookup(cls, selector), function) for selector, function in (
                ("grow", dictionary_grow), ("initialize:", dictionary_initialize), ("at:put:", dictionary_at_put)))
        entry = self.classes[cls] = (probes, fields, grows)
        return entry

    def vector_positions(self, cls: Any) -> tuple[int, ...] | None:
        """Where a Vector's three fields are in instances of ``cls``, when the
        library's Array methods are there."""
        vm = self.vm
        if self.epoch is not vm.lookup_epoch:
            self.refresh()
        names = vm.all_field_names(cls)
        positions = tuple(names.index(name) for name in _VECTOR_FIELDS) \
            if self.library and all(name in names for name in _VECTOR_FIELDS) else None
        self.vectors[cls] = positions
        return positions


_SUPPORT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# the universe asked last and its support, as one tuple: universes on other threads
# replace it whole, so a reader never sees one universe with another's support
_last: tuple = (None, None)


def _support(vm: Any) -> _Support:
    """The universe's support, with verdicts of its current epoch."""
    global _last
    last = _last
    if last[0] is vm:
        return last[1].current()
    found = _SUPPORT.get(vm)
    if found is None:
        found = _SUPPORT[vm] = _Support(vm)
    _last = (vm, found)
    return found.current()


# receiver class -> (epoch, support, class verdict, the four field positions, Array):
# what _state needs from one lookup instead of three; an entry of another epoch is
# stale (classes belong to one universe, each epoch is a fresh object). Bounded, so
# classes of machines gone are dropped rather than kept.
_DICTIONARIES: dict = {}
_VECTORS: dict = {}
_CACHE_LIMIT = 512


def _dictionary_entry(vm: Any, cls: Any) -> tuple:
    """The _DICTIONARIES entry for ``cls`` (made now); PrimitiveFailed when the
    primitives may not probe its instances."""
    support = _support(vm)
    entry = support.classes.get(cls)
    if entry is None:
        entry = support.dictionary(cls)
    positions = entry[0]
    if positions is None:
        raise _FAILED
    if len(_DICTIONARIES) >= _CACHE_LIMIT:
        _DICTIONARIES.clear()
    cached = _DICTIONARIES[cls] = (vm.lookup_epoch, support, entry, *positions, support.array)
    return cached


def _state(vm: Any, rcv: Any) -> tuple[_Support, tuple, list, list, int, list]:
    """(support, class verdict, keys, values, count, index items) of a Dictionary
    the primitives may probe; PrimitiveFailed otherwise."""
    try:
        cls = rcv.cls
        cached = _DICTIONARIES.get(cls)
        if cached is None or cached[0] is not vm.lookup_epoch:
            cached = _dictionary_entry(vm, cls)
        _, support, entry, k, v, c, i, array = cached
        fields = rcv.fields
        keys, values, count, index = fields[k], fields[v], fields[c], fields[i]
    except (AttributeError, IndexError):
        raise _FAILED from None         # an obsolete instance, without the four fields
    # one test for the three Arrays (a VArray's class is never None)
    # (every immediate word is >= INT_LO: an int below INT_HI is a SmallInteger)
    if not (type(count) is int and count < _INT_HI) or type(index) is not VArray \
            or type(keys) is not VArray or type(values) is not VArray \
            or not (index.cls is array is keys.cls is values.cls):
        raise _FAILED
    return support, entry, keys.items, values.items, count - _ZERO, index.items


def _slot(vm: Any, support: _Support, key: Any, keys: list, index: list) -> int:
    """slotFor:'s probe (0-based here): the slot holding ``key``, or the free one."""
    size = len(index)
    if size == 0:
        raise _FAILED
    last = _ONE + len(keys)         # one past the last position an index may hold
    if support.plain_keys:
        if type(key) is int and key < _INT_HI:
            slot = (key - _ZERO) & (size - 1)
            # the first probe on its own: most end there (a free slot, or the key)
            position = index[slot]
            if position == _NIL:
                return slot
            if type(position) is int and _ONE <= position < last and keys[position - _ONE] == key:
                return slot
            # A SmallInteger key: a stored SmallInteger is equal exactly when it is the
            # same word; any other stored key is asked (vm.trivial)
            for _ in range(size):
                position = index[slot]
                if position == _NIL:
                    return slot
                if not (type(position) is int and _ONE <= position < last):
                    raise _FAILED
                stored = keys[position - _ONE]
                if stored == key or (not (type(stored) is int and stored < _INT_HI) and _equal(vm, stored, key)):
                    return slot
                slot = slot + 1 if slot + 1 < size else 0
            raise _FAILED
        if type(key) is VString and key.cls is support.string:
            h = key.h
            if not h:
                h = key.h = string_hash(key.chars) or 1
            slot = h & (size - 1)
            chars = key.chars
            string = support.string
            for _ in range(size):
                position = index[slot]
                if position == _NIL:
                    return slot
                if not (type(position) is int and _ONE <= position < last):
                    raise _FAILED
                stored = keys[position - _ONE]
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
        if position == _NIL:
            return slot
        if not (type(position) is int and _ONE <= position < last):
            raise _FAILED
        if _equal(vm, keys[position - _ONE], key):
            return slot
        slot = slot + 1 if slot + 1 < size else 0
    raise _FAILED               # a full index: the body loops as it would


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
    if position == _NIL:
        return _NIL
    if not _ONE <= position < _ONE + len(values):
        raise _FAILED
    return values[position - _ONE]


@primitive("Dictionary", "at:ifAbsent:")
def dictionary_at_if_absent(vm, rcv, key, block):
    """The value, or for an absent key a block that answers a constant without running
    code (``[ 0 ]``, ``[ nil ]``) answered as ``aBlock value`` would; any other block
    of an absent key is the body's to run."""
    support, _, keys, values, _, index = _state(vm, rcv)
    position = index[_slot(vm, support, key, keys, index)]
    if position == _NIL:
        if type(block) is not Closure or block.cls is not support.block:
            raise _FAILED
        value = block_constant(block.code)
        if value is NOT_CONSTANT:
            raise _FAILED
        return value
    if not _ONE <= position < _ONE + len(values):
        raise _FAILED
    return values[position - _ONE]


@primitive("Dictionary", "containsKey:")
def dictionary_contains_key(vm, rcv, key):
    return _TRUE if contains(vm, rcv, key) else _FALSE


@primitive("Dictionary", "at:put:")
def dictionary_at_put(vm, rcv, key, value):
    put(vm, rcv, key, value, replace=True)
    return rcv


def contains(vm: Any, rcv: Any, key: Any) -> bool:
    """containsKey:'s answer, for other primitives (vm.primitives.library_set); raises
    PrimitiveFailed where containsKey: would fail."""
    support, _, keys, _, _, index = _state(vm, rcv)
    return index[_slot(vm, support, key, keys, index)] != _NIL


def put(vm: Any, rcv: Any, key: Any, value: Any, *, replace: bool) -> None:
    """What at:put: does; for a key already there, only when ``replace`` (otherwise
    nothing changes, as after ``(d containsKey: k) ifFalse: [ d at: k put: v ]``).
    Raises PrimitiveFailed, with nothing changed, where at:put: would fail."""
    support, entry, keys, values, count, index = _state(vm, rcv)
    slot = _slot(vm, support, key, keys, index)
    position = index[slot]
    if position != _NIL:
        if not _ONE <= position < _ONE + len(values):
            raise _FAILED
        if replace:
            values[position - _ONE] = value
        return
    if count == len(keys) and entry[2]:
        # the body's `self grow. slot := self slotFor: key`
        keys, values, index, count = _grow(vm, support, rcv, entry[0], keys, values, count)
        slot = _slot(vm, support, key, keys, index)
    if count >= len(keys) or count >= len(values) or count < 0:
        raise _FAILED                      # the body grows the arrays first, or fails
    keys[count] = key
    values[count] = value
    # the new count is below an Array's length: a SmallInteger word without checks
    rcv.fields[entry[0][2]] = index[slot] = count + _ONE


def _index_slots(capacity: int) -> int:
    """initialize:'s index size for ``capacity``."""
    slots = 8
    while slots < capacity * 2:
        slots *= 2
    return slots


@primitive("Dictionary", "initialize:")
def dictionary_initialize(vm, rcv, capacity):
    support = _support(vm)
    cls = getattr(rcv, "cls", None)
    entry = support.classes.get(cls)
    if entry is None:
        entry = support.dictionary(cls)
    fields = entry[1]
    if fields is None or not support.allocates or vm.globals.get("Array") is not support.array \
            or not (type(capacity) is int and V.ZERO <= capacity < V.ZERO + _MAX_CAPACITY):
        raise _FAILED
    n = capacity - V.ZERO
    k, v, c, i = fields
    try:
        slots = rcv.fields
        slots[k], slots[v], slots[i], slots[c] = (VArray(support.array, [V.NIL] * n),
                                                  VArray(support.array, [V.NIL] * n),
                                                  VArray(support.array, [V.NIL] * _index_slots(n)), V.ZERO)
    except (AttributeError, IndexError):
        raise _FAILED from None
    return rcv


def _grow(vm: Any, support: _Support, rcv: Any, positions: tuple, keys: list, values: list,
          count: int) -> tuple[list, list, list, int]:
    """What grow's body does — ``self initialize: keyArray length * 2`` and every
    entry re-inserted with ``at:put:`` — when each re-insertion probes without running
    Smalltalk code; the new arrays' items and the new count. Nothing changes until every entry is placed,
    so a failure leaves the dictionary for the body to grow."""
    capacity = len(keys) * 2
    if not 0 < capacity <= _MAX_CAPACITY or not 0 <= count <= len(keys) or count > len(values) \
            or vm.globals.get("Array") is not support.array:
        raise _FAILED
    new_keys = [V.NIL] * capacity
    new_values = [V.NIL] * capacity
    new_index = [V.NIL] * _index_slots(capacity)
    placed = 0
    slots = len(new_index)
    mask = slots - 1
    plain = support.plain_keys
    for n in range(count):
        key = keys[n]
        if plain and type(key) is int and key < _INT_HI:
            # _slot's SmallInteger probe, over arrays only this loop has written (every
            # position valid; more slots than entries, so a free one ends it)
            slot = (key - _ZERO) & mask
            position = new_index[slot]
            while position != _NIL:
                stored = new_keys[position - _ONE]
                if stored == key:
                    break
                if not (type(stored) is int and stored < _INT_HI):
                    slot = _slot(vm, support, key, new_keys, new_index)    # it asks the stored key
                    position = new_index[slot]
                    break
                slot = slot + 1 if slot + 1 < slots else 0
                position = new_index[slot]
        else:
            slot = _slot(vm, support, key, new_keys, new_index)
            position = new_index[slot]
        if position != V.NIL:
            new_values[position - V.ONE] = values[n]    # an equal key came first: at:put: replaces
            continue
        new_keys[placed] = key
        new_values[placed] = values[n]
        placed += 1
        new_index[slot] = placed + V.ZERO
    k, v, c, i = positions
    array = support.array
    fields = rcv.fields
    fields[k], fields[v], fields[i], fields[c] = (VArray(array, new_keys), VArray(array, new_values),
                                                  VArray(array, new_index), placed + V.ZERO)
    return new_keys, new_values, new_index, placed


@primitive("Dictionary", "grow")
def dictionary_grow(vm, rcv):
    support, entry, keys, values, count, _ = _state(vm, rcv)
    if not entry[2]:
        raise _FAILED
    _grow(vm, support, rcv, entry[0], keys, values, count)
    return rcv


# ---------------------------------------------------------------- Vector

def _vector_entry(vm: Any, cls: Any) -> tuple:
    """The _VECTORS entry for ``cls``: (epoch, first, last and storage positions,
    Array); PrimitiveFailed when the primitives may not act on its instances."""
    support = _support(vm)
    positions = support.vectors.get(cls, _ABSENT)
    if positions is _ABSENT:
        positions = support.vector_positions(cls)
    if positions is None:
        raise _FAILED
    if len(_VECTORS) >= _CACHE_LIMIT:
        _VECTORS.clear()
    cached = _VECTORS[cls] = (vm.lookup_epoch, *positions, support.array)
    return cached


def _vector(vm: Any, rcv: Any) -> tuple[tuple, list, Any, Any, list]:
    """(cache entry, fields, first, last, storage items) of a Vector the primitives
    may act on (first and last still words); PrimitiveFailed otherwise."""
    try:
        cls = rcv.cls
        cached = _VECTORS.get(cls)
        if cached is None or cached[0] is not vm.lookup_epoch:
            cached = _vector_entry(vm, cls)
        fields = rcv.fields
        first, last, storage = fields[cached[1]], fields[cached[2]], fields[cached[3]]
    except (AttributeError, IndexError):
        raise _FAILED from None
    if type(storage) is not VArray or storage.cls is not cached[4] \
            or not (type(first) is int and first < _INT_HI) or not (type(last) is int and last < _INT_HI):
        raise _FAILED
    return cached, fields, first, last, storage.items


# at: and at:put: do _vector's work inline: they are the hottest calls of all

@primitive("Vector", "at:")
def vector_at(vm, rcv, index):
    try:
        cls = rcv.cls
        cached = _VECTORS.get(cls)
        if cached is None or cached[0] is not vm.lookup_epoch:
            cached = _vector_entry(vm, cls)
        fields = rcv.fields
        first, last, storage = fields[cached[1]], fields[cached[2]], fields[cached[3]]
    except (AttributeError, IndexError):
        raise _FAILED from None
    if type(index) is int and _ONE <= index < _INT_HI and type(storage) is VArray \
            and storage.cls is cached[4] and type(first) is int and first < _INT_HI \
            and type(last) is int and last < _INT_HI:
        i = index + first - _ONE - _ZERO          # index + first - 1, as an int
        items = storage.items
        if i < last - _ZERO and 1 <= i <= len(items):
            return items[i - 1]
    raise _FAILED                   # the body reports the index error


@primitive("Vector", "at:put:")
def vector_at_put(vm, rcv, index, value):
    try:
        cls = rcv.cls
        cached = _VECTORS.get(cls)
        if cached is None or cached[0] is not vm.lookup_epoch:
            cached = _vector_entry(vm, cls)
        fields = rcv.fields
        first, last, storage = fields[cached[1]], fields[cached[2]], fields[cached[3]]
    except (AttributeError, IndexError):
        raise _FAILED from None
    if type(index) is int and _ONE <= index < _INT_HI and type(storage) is VArray \
            and storage.cls is cached[4] and type(first) is int and first < _INT_HI \
            and type(last) is int and last < _INT_HI:
        i = index + first - _ONE - _ZERO
        items = storage.items
        if i < last - _ZERO and 1 <= i <= len(items):
            items[i - 1] = value
            return value
    raise _FAILED


@primitive("Vector", "append:")
def vector_append(vm, rcv, element):
    cached, fields, _, last, items = _vector(vm, rcv)
    n = last - _ZERO
    if not 1 <= n <= len(items):
        raise _FAILED               # the body makes room first
    items[n - 1] = element
    fields[cached[2]] = last + 1
    return rcv
