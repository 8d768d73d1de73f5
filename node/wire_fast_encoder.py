"""The fast path of the wire writer: one recursive pass that writes the bytes of
``node.wire_encoder`` straight into a list of chunks.

The rules:

- The bytes are exactly those of ``node.wire_encoder.Encoder``, which stays the
  definition of the format. Whatever this path does not write the same way — a kind
  of object it leaves to ``Encoder.classify``'s refusals, a value nested close to the
  depth limit, text that is not valid Unicode, any error at all — makes it give up
  (``NOT_DONE``) and the caller runs ``Encoder``, which writes the bytes or raises the
  WireError.
- Value sharing in one pass: every heap object's first chunk is remembered; a second
  meeting writes a placeholder; at the end the first chunk of each object met twice
  gets the shareable tag (28) in front and each placeholder becomes its shared
  reference (29), numbered in writing order as ``Encoder`` numbers them. Levels are
  counted without the sharing tags; with sharing the path gives up unless the
  deepest level plus one per shared object stays under the limit.
- It never raises and never answers a partial result.

(cbor2's C encoder is not used for the whole message: it takes about as long for
one tagged item — every Symbol, every shared reference — as this writer does, and a
conversion pass into its plain structure costs more than writing the bytes here.)

A leaf module like the other wire modules: it imports the pure-Python writer and the
VM's value and object modules.
"""
from __future__ import annotations

import struct
import weakref
from typing import Any

from smalltalk_vm.node.wire_encoder import Encoder
from smalltalk_vm.node.wire_tags import (
    TAG_CHARACTER,
    TAG_CLASS,
    TAG_INDEXED,
    TAG_OBJECT,
    TAG_SET,
    TAG_SHAREABLE,
    TAG_SHAREDREF,
    TAG_SYMBOL,
    TAG_VECTOR,
    NodeRefs,
)
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import Instance, LargeInt, VArray, VBytes, VString

NOT_DONE = object()

INT_LO, INT_HI, ZERO = V.INT_LO, V.INT_HI, V.ZERO
NIL, TRUE, FALSE = V.NIL, V.TRUE, V.FALSE
CHAR_BASE, CHAR_LIMIT, SYM_BASE, SYM_LIMIT = V.CHAR_BASE, V.CHAR_LIMIT, V.SYM_BASE, V.SYM_LIMIT
_UINT64 = 1 << 64
_pack_double = struct.Struct(">Bd").pack
_pack_16 = struct.Struct(">BH").pack
_pack_32 = struct.Struct(">BI").pack
_pack_64 = struct.Struct(">BQ").pack
# the one-byte heads, by major type and argument below 24
_HEADS = tuple(tuple(bytes((major << 5 | n,)) for n in range(24)) for major in range(8))
_SIMPLE = {NIL: b"\xf6", TRUE: b"\xf5", FALSE: b"\xf4"}


class _Tables:
    """What a universe's messages keep needing, kept between messages: the bytes of
    each Symbol written so far (a Symbol's name never changes), and per class the
    encoded field names or the positions of named fields, with the field lists of
    its superclass chain they were computed from (a redefinition replaces a class's
    list, so a stale entry is seen and recomputed). VM thread only."""
    __slots__ = ("layouts", "symbols")

    def __init__(self) -> None:
        self.symbols: dict[int, bytes] = {}
        self.layouts: dict[Any, tuple[tuple, Any]] = {}

    def layout(self, cls: Any, compute: Any, key: Any = None) -> Any:
        """The cached ``compute(cls)`` under ``key`` (default: the class), recomputed
        when a class of the chain changed its fields."""
        chain = _field_lists(cls)
        found = self.layouts.get(key if key is not None else cls)
        if found is not None and len(found[0]) == len(chain) \
                and all(a is b for a, b in zip(found[0], chain)):
            return found[1]
        answer = compute(cls)
        self.layouts[key if key is not None else cls] = (chain, answer)
        return answer


def _field_lists(cls: Any) -> tuple:
    lists = []
    while cls is not None:
        lists.append(cls.instance_fields)
        cls = cls.superclass
    return tuple(lists)


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _tables(vm: Any) -> _Tables:
    found = _TABLES.get(vm)
    if found is None:
        found = _TABLES[vm] = _Tables()
    return found


class _GiveUp(Exception):
    """The pure-Python writer will do this value."""


def head(major: int, n: int) -> bytes:
    """A CBOR head: major type and argument, in the fewest bytes."""
    if n < 24:
        return _HEADS[major][n]
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return _pack_16(major << 5 | 25, n)
    if n < 0x100000000:
        return _pack_32(major << 5 | 26, n)
    return _pack_64(major << 5 | 27, n)


def _integer(n: int) -> bytes:
    if 0 <= n < _UINT64:
        return head(0, n)
    if -_UINT64 <= n < 0:
        return head(1, -1 - n)
    tag, magnitude = (2, n) if n > 0 else (3, -1 - n)
    data = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
    return head(6, tag) + head(2, len(data)) + data


def _text(s: str) -> bytes:
    data = s.encode("utf-8")            # lone surrogates raise: the slow path says so
    return head(3, len(data)) + data


_UINT_HEADS = tuple(head(0, n) for n in range(256))
_NINT_HEADS = tuple(head(1, n) for n in range(256))    # -1 .. -256
_SYMBOL_HEAD = head(6, TAG_SYMBOL)
_CHAR_HEAD = head(6, TAG_CHARACTER)
_CLASS_HEAD = head(6, TAG_CLASS)
_OBJECT_HEAD = head(6, TAG_OBJECT) + head(4, 2)
_INDEXED_HEAD = head(6, TAG_INDEXED) + head(4, 2)
_VECTOR_HEAD = head(6, TAG_VECTOR)
_SET_HEAD = head(6, TAG_SET)
_SHAREABLE_HEAD = head(6, TAG_SHAREABLE)
_SHAREDREF_HEAD = head(6, TAG_SHAREDREF)


def encode(vm: Any, root: Any, max_depth: int, node_refs: NodeRefs | None) -> Any:
    """The wire bytes of ``root``, or NOT_DONE."""
    try:
        return _Writer(vm, max_depth, node_refs).write(root)
    except Exception:
        return NOT_DONE


class _Writer:
    """One message, on the thread that owns the VM's objects; never blocks; raises
    ``_GiveUp`` (or whatever broken internals make Python raise), which ``encode``
    turns into NOT_DONE."""

    def __init__(self, vm: Any, max_depth: int, node_refs: NodeRefs | None) -> None:
        self.vm = vm
        self.max_depth = max_depth
        self.node_refs = node_refs
        known = vm.globals                      # as Encoder finds them
        self.vector, self.dictionary, self.set = known.get("Vector"), known.get("Dictionary"), known.get("Set")
        self.node_class = node_refs.node_class if node_refs is not None else None
        self.layouts: dict[Any, Any] = {}       # class -> its field names, or the positions of its fields
        self.tables = _tables(vm)
        # Objects that travel by reference are the reference encoder's: a wrapper made by
        # asRemote always, and the kernel collections this writer handles inline whenever
        # a program made one of their classes pass by reference.
        self.by_reference_wrapper = vm.kernel_class("ByReference") if node_refs is not None else None
        self.kernel_by_reference = node_refs is not None and _any_by_reference(
            node_refs, (vm.String, vm.Array, vm.ByteArray, self.vector, self.dictionary, self.set))

    def positions(self, cls: Any, names: tuple[str, ...]) -> tuple[int, ...]:
        key = (cls, names)
        found = self.layouts.get(key)
        if found is None:
            all_field_names = self.vm.all_field_names
            found = self.layouts[key] = self.tables.layout(
                cls, lambda c: tuple(all_field_names(c).index(name) for name in names), key)
        return found

    def write(self, root: Any) -> bytes:
        if self.kernel_by_reference:
            raise _GiveUp
        vm = self.vm
        array_class, string_class, bytes_class = vm.Array, vm.String, vm.ByteArray
        vector_class, dictionary_class, set_class = self.vector, self.dictionary, self.set
        symbols = vm.symbols
        max_depth = self.max_depth
        chunks: list[bytes] = []
        append = chunks.append
        starts: dict[int, int] = {}             # id of each heap object -> index of its first chunk
        references: list[tuple[int, int]] = []  # (chunk index, id) of each second meeting
        deepest = 0
        heads3, heads4, heads5 = _HEADS[3], _HEADS[4], _HEADS[5]
        positions = self.positions
        rest = self.rest
        symbol_bytes = self.tables.symbols
        uint_heads, nint_heads = _UINT_HEADS, _NINT_HEADS

        def items(values: list, depth: int) -> None:
            """Elements at ``depth``: the common leaves written here, the rest by ``put``."""
            nonlocal deepest
            for value in values:
                kind = type(value)
                if kind is int:
                    if value < INT_HI:
                        n = value - ZERO
                        if 0 <= n < 256:
                            append(uint_heads[n])
                        elif -256 <= n < 0:
                            append(nint_heads[-1 - n])
                        else:
                            append(head(0, n) if n >= 0 else head(1, -1 - n))
                        continue
                    if SYM_BASE <= value < SYM_LIMIT and depth < max_depth:
                        if depth > deepest:
                            deepest = depth
                        found = symbol_bytes.get(value)
                        if found is None:
                            found = symbol_bytes[value] = _SYMBOL_HEAD + _text(symbols[value - SYM_BASE])
                        append(found)
                        continue
                    put(value, depth)
                elif kind is VString and value.cls is string_class and id(value) not in starts:
                    starts[id(value)] = len(chunks)
                    data = value.chars.encode("utf-8")
                    append(heads3[len(data)] if len(data) < 24 else head(3, len(data)))
                    append(data)
                elif kind is float:
                    append(_pack_double(0xFB, value))
                else:
                    put(value, depth)

        def put(value: Any, depth: int) -> None:
            nonlocal deepest
            kind = type(value)
            if kind is int:
                if value < INT_HI:              # every immediate word is >= INT_LO
                    n = value - ZERO
                    if 0 <= n < 256:
                        append(uint_heads[n])
                    elif -256 <= n < 0:
                        append(nint_heads[-1 - n])
                    else:
                        append(head(0, n) if n >= 0 else head(1, -1 - n))
                    return
                simple = _SIMPLE.get(value)
                if simple is not None:
                    append(simple)
                    return
                if depth >= max_depth:
                    raise _GiveUp
                if depth > deepest:
                    deepest = depth
                if CHAR_BASE <= value < CHAR_LIMIT:
                    append(_CHAR_HEAD + head(0, value - CHAR_BASE))
                elif SYM_BASE <= value < SYM_LIMIT:
                    found = symbol_bytes.get(value)
                    if found is None:
                        found = symbol_bytes[value] = _SYMBOL_HEAD + _text(symbols[value - SYM_BASE])
                    append(found)
                else:
                    raise _GiveUp
                return
            if kind is float:
                append(_pack_double(0xFB, value))
                return
            key = id(value)
            if key in starts:
                if depth >= max_depth:
                    raise _GiveUp
                if depth > deepest:
                    deepest = depth
                references.append((len(chunks), key))
                append(b"")
                return
            starts[key] = len(chunks)
            if kind is VString:
                if value.cls is string_class:
                    append(_text(value.chars))
                    return
                if depth + 1 >= max_depth:
                    raise _GiveUp
                if depth + 1 > deepest:
                    deepest = depth + 1
                append(_INDEXED_HEAD + _text(value.cls.name) + _text(value.chars))
                return
            if kind is VArray:
                elements = value.items
                if value.cls is array_class:
                    append(heads4[len(elements)] if len(elements) < 24 else head(4, len(elements)))
                    if elements:
                        if depth >= max_depth:
                            raise _GiveUp
                        if depth > deepest:
                            deepest = depth
                        items(elements, depth + 1)
                    return
                inner = depth + 2 + (1 if elements else 0)
                if inner > max_depth:
                    raise _GiveUp
                if inner - 1 > deepest:
                    deepest = inner - 1
                append(_INDEXED_HEAD + _text(value.cls.name) + head(4, len(elements)))
                items(elements, inner)
                return
            if kind is Instance:
                cls = value.cls
                fields = value.fields
                if cls is dictionary_class:
                    k, v, c = positions(cls, ("keyArray", "valueArray", "count"))
                    count = vm.int_of(fields[c])
                    keys, values = fields[k].items[:count], fields[v].items[:count]
                    count = min(len(keys), len(values))
                    append(heads5[count] if count < 24 else head(5, count))
                    if count:
                        if depth >= max_depth:
                            raise _GiveUp
                        if depth > deepest:
                            deepest = depth
                        items([entry for pair in zip(keys, values) for entry in pair], depth + 1)
                    return
                if cls is vector_class or cls is set_class:
                    if cls is vector_class:
                        f, la, s = positions(cls, ("first", "last", "storage"))
                        elements = fields[s].items[vm.int_of(fields[f]) - 1:vm.int_of(fields[la]) - 1]
                    else:
                        table = fields[positions(cls, ("table",))[0]]
                        k, c = positions(table.cls, ("keyArray", "count"))
                        elements = table.fields[k].items[:vm.int_of(table.fields[c])]
                    inner = depth + 1 + (1 if elements else 0)
                    if inner > max_depth:
                        raise _GiveUp
                    if inner - 1 > deepest:
                        deepest = inner - 1
                    append((_VECTOR_HEAD if cls is vector_class else _SET_HEAD) + head(4, len(elements)))
                    items(elements, inner)
                    return
                names = self.layouts.get(cls, _UNKNOWN)
                if names is _UNKNOWN:
                    names = self.layouts[cls] = self.field_names(cls)
                if names is not None:
                    inner = depth + 2 + (1 if names else 0)
                    if inner > max_depth or len(names) != len(fields):
                        raise _GiveUp
                    if inner - 1 > deepest:
                        deepest = inner - 1
                    append(_OBJECT_HEAD + _text(cls.name) + head(5, len(names)))
                    for name, field in zip(names, fields):
                        append(name)
                        put(field, inner)
                    return
            if kind is LargeInt:
                if not -_UINT64 <= value.n < _UINT64:
                    if depth >= max_depth:
                        raise _GiveUp
                    if depth > deepest:
                        deepest = depth
                append(_integer(value.n))
                return
            if kind is VBytes and value.cls is bytes_class:
                data = bytes(value.data)
                append(head(2, len(data)) + data)
                return
            if depth + 1 >= max_depth:
                raise _GiveUp                   # what is left opens one or two frames
            if depth + 1 > deepest:
                deepest = depth + 1
            append(rest(value))

        put(root, 0)
        if references:
            shared = sorted({key for _, key in references}, key=starts.__getitem__)
            if deepest + len(shared) >= max_depth:
                raise _GiveUp
            indices = {}
            for key in shared:
                indices[key] = len(indices)
                start = starts[key]
                chunks[start] = _SHAREABLE_HEAD + chunks[start]
            for position, key in references:
                chunks[position] = _SHAREDREF_HEAD + head(0, indices[key])
        return b"".join(chunks)

    def field_names(self, cls: Any) -> tuple[bytes, ...] | None:
        """The encoded field names of a class whose instances travel as objects by
        value; None for every other kind (Node, MethodSource, exceptions)."""
        if cls is self.node_class or cls is self.by_reference_wrapper:
            return None
        if self.node_refs is not None and self.node_refs.by_reference(self.vm.new_instance(cls)):
            return None
        return self.tables.layout(cls, self.object_field_names)

    def object_field_names(self, cls: Any) -> tuple[bytes, ...] | None:
        what, _ = Encoder(self.vm, self.max_depth, None).classify(self.vm.new_instance(cls))
        if what != "object":
            return None
        return tuple(_text(name) for name in self.vm.all_field_names(cls))

    def rest(self, value: Any) -> bytes:
        """Every other kind (classes, methods, exceptions, method sources, process and
        node references, instances of subclasses of ByteArray): what ``Encoder``
        writes for it alone — none of them holds a value that could be shared."""
        writer = Encoder(self.vm, self.max_depth, self.node_refs)
        if writer.classify(value)[1]:
            raise _GiveUp
        return writer.encode(value)


_UNKNOWN = object()


class _ClassProbe:
    """Stands for an instance of ``cls`` where only its class is asked for."""
    __slots__ = ("cls",)

    def __init__(self, cls: Any) -> None:
        self.cls = cls


def _any_by_reference(node_refs: NodeRefs, classes: tuple) -> bool:
    """Whether instances of any of ``classes`` travel by reference; a class not loaded
    (None) has no instances to send."""
    try:
        return any(node_refs.by_reference(_ClassProbe(cls)) for cls in classes if cls is not None)
    except Exception:
        return True                             # the reference encoder says what is wrong
