"""The fast path of the wire reader: cbor2's C decoder reads the bytes into its plain
structure (lists, dicts, str, bytes, ints, floats, CBORTag), and one Python pass
turns that into VM values.

The rules:

- The values are exactly those ``node.wire_decoder.Decoder`` makes, which stays the
  definition of the format. Whatever this path does not read the same way — an
  indefinite length, a repeated map key (cbor2 would keep one), bytes after the value,
  a value nested close to the depth limit, a forward shared reference, an unknown or
  misused tag, any error at all — makes it give up (``NOT_DONE``), and the caller
  runs ``Decoder``, which makes the value or raises the WireError.
- It never raises and never answers a partial result. Giving up may have loaded a
  class or asked the node layer about a reference; ``Decoder`` repeats those, and
  both are idempotent.
- Value sharing is read one of two ways, with the same values: cbor2 resolves tags
  28/29 itself and the conversion answers one VM object per shared Python item — taken
  only when the items it met again account for every sharing tag in the bytes — or,
  for any message that fails that or the byte test before it, cbor2 leaves markers
  numbered here as ``Decoder`` numbers its slots. Reference counts only say which
  items to remember; a wrong guess ends in the marker reading, never in another value.

A leaf module like the other wire modules: it imports cbor2, the pure-Python reader and
the VM's value, object, limits and text modules. VM thread only (the thread that owns
the objects it makes).
"""
from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

import cbor2

from smalltalk_vm.node.wire_decoder import Decoder
from smalltalk_vm.node.wire_tags import (
    TAG_CHARACTER,
    TAG_CLASS,
    TAG_EXCEPTION,
    TAG_INDEXED,
    TAG_METHOD_SOURCE,
    TAG_NODE,
    TAG_OBJECT,
    TAG_PROCESS,
    TAG_REMOTE_REF,
    TAG_SET,
    TAG_SHAREABLE,
    TAG_SHAREDREF,
    TAG_SYMBOL,
    TAG_VECTOR,
    NodeRefs,
)
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.limits import MAX_INTEGER_BITS
from smalltalk_vm.vm.objects import Instance, LargeInt, VArray, VBytes, VString, inherits
from smalltalk_vm.vm.text import code_point_problem

NOT_DONE = object()
_REMOTE_REF_HEAD = bytes((0xD9, TAG_REMOTE_REF >> 8, TAG_REMOTE_REF & 0xFF))

CBORTag = cbor2.CBORTag
INT_LO, INT_HI, ZERO = V.INT_LO, V.INT_HI, V.ZERO
NIL, TRUE, FALSE = V.NIL, V.TRUE, V.FALSE
CHAR_BASE, CHAR_LIMIT, SYM_BASE, SYM_LIMIT = V.CHAR_BASE, V.CHAR_LIMIT, V.SYM_BASE, V.SYM_LIMIT
SMALL_MIN, SMALL_MAX = V.SMALL_MIN, V.SMALL_MAX
_UINT64 = 1 << 64


class _GiveUp(Exception):
    """This path does not handle the value the same way: the pure-Python codec will."""



class _Shared:
    """A value-sharing tag (28) as cbor2 read it; numbered in reading order later."""
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Reference:
    """A shared reference (29) as cbor2 read it."""
    __slots__ = ("index",)

    def __init__(self, index: Any) -> None:
        self.index = index


def _give_up(value: Any, immutable: bool) -> Any:
    raise _GiveUp


# cbor2's own meaning for these tags is not the wire's. 28 and 29 are left as markers
# to number here: cbor2 cannot point into a tagged item still being read, and it
# would make them invisible where the wire wants plain text or bytes (a Symbol's name,
# a bignum's bytes). The others the wire refuses ("unknown tag"); cbor2 would read
# some of them (55799, 256, 25) as if the tag were absent.
_SEMANTIC = {TAG_SHAREABLE: lambda value, immutable: _Shared(value),
             TAG_SHAREDREF: lambda value, immutable: _Reference(value),
             **dict.fromkeys((0, 1, 4, 5, 25, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004,
                              43000, 55799), _give_up)}
# Keys that cbor2 (told to refuse repeated keys) already compares as the VM's ``=``
# does: text by its characters, numbers by exact value (1 = 1.0, NaN equals nothing).
_PLAIN_KEYS = frozenset((str, int, float))

# The references an item of cbor2's structure held by one container has, as
# ``sys.getrefcount`` counts them in the conversion's loop over a container (the
# container, the loop variable, the argument) and inside ``value`` (one more: the
# parameter). Only items with more can be shared; the others skip the memo. A count
# that is off only costs speed: an item held twice that skips the memo leaves its
# shared references unaccounted for, and the markers decide.
_ONE_HOLDER_IN_LOOP = 3
_ONE_HOLDER_IN_CALL = 4


# The wire's own tags are written d9 c7xx, value sharing d8 1c / d8 1d. A message whose
# every d9 head is one of those and that has no da or db byte at all holds none of the
# tags cbor2 reads as if they were absent (the self-describing tag 55799, d9 d9f7, and
# the string-reference namespace 256, d9 0100, without which its references 25 are
# errors) nor a sharing tag written in a longer form (d9 001c and the like). Every other
# tag cbor2 reads itself makes a Python type the conversion refuses (datetime, Decimal,
# Fraction, set, ...). Messages that fail this byte test are read with ``_SEMANTIC``:
# telling cbor2 about the tags on every message costs more than the test.
def _plain_tag_heads(data: bytes) -> bool:
    return b"\xda" not in data and b"\xdb" not in data and (
        b"\xd9" not in data or data.count(b"\xd9") == data.count(b"\xd9\xc7"))
_PENDING = object()


class _Reader:
    """One conversion of cbor2's plain structure into VM values, as ``Decoder`` builds
    them (the same objects, fields and value sharing: with a ``memo``, one VM object
    per shared Python item cbor2 answered; without, cbor2 left ``_Shared`` and
    ``_Reference`` markers, numbered here in reading order). One message, on the
    thread that owns the VM's objects; never blocks; raises ``_GiveUp`` (or whatever
    a malformed record makes the VM raise), which ``decode`` turns into NOT_DONE."""

    def __init__(self, vm: Any, slow: Decoder, max_depth: int, memo: dict | None = None) -> None:
        self.vm = vm
        self.slow = slow
        self.limit = max_depth - 1          # one level short of the limit: near it the slow path decides
        self.shareables: list = []
        self.dictionary: tuple | None = None
        # Native sharing (cbor2 resolved tags 28/29 itself): ``memo`` holds the VM value
        # made for each heap item, by the item's id, and takes the place of the
        # numbered slots, so a second meeting answers the same object; ``hit_ids`` has
        # the id of the item at every second meeting, which ``decode`` checks against
        # the sharing tags in the bytes.
        self.memo = memo
        if memo is not None:
            self.shareables = memo
        self.hit_ids: list[int] = []

    def dictionary_layout(self) -> tuple:
        """(Dictionary class, positions of keyArray, valueArray, count, index, number
        of fields)."""
        if self.dictionary is None:
            cls = self.slow.find_class("Dictionary")
            names = self.vm.all_field_names(cls)
            self.dictionary = (cls, *(names.index(n) for n in ("keyArray", "valueArray", "count", "index")),
                               len(names))
        return self.dictionary

    def convert(self, root: Any) -> Any:
        vm = self.vm
        array_class, string_class, integer_class = vm.Array, vm.String, vm.Integer
        limit = self.limit
        shareables = self.shareables
        tagged = self.tagged
        new_dictionary = self.new_dictionary
        new_bytes = vm.new_bytes
        symbol_ids = vm.symbol_ids
        symbol = vm.symbol
        memo = self.memo
        sharing = memo is not None
        memo_get = memo.get if sharing else None
        refcount = sys.getrefcount
        hit_ids = self.hit_ids

        if sharing:
            def again(found: Any, item: Any) -> Any:
                """A heap item cbor2 answered a second time: a shared reference."""
                if found is _PENDING:
                    raise _GiveUp               # to a record still being read
                hit_ids.append(id(item))
                return found

            def string(item: str) -> VString:
                found = memo_get(id(item))
                if found is not None:
                    return again(found, item)
                found = memo[id(item)] = VString(string_class, item)
                return found

        def elements(items: Any, depth: int) -> list:
            """The values of a container's items at ``depth``: the common leaves made
            here, the rest by ``value``."""
            out = []
            add = out.append
            tags_fit = depth < limit
            for item in items:
                kind = type(item)
                if kind is int and SMALL_MIN <= item <= SMALL_MAX:
                    add(item + ZERO)
                elif kind is str:
                    # one-character and empty strings are Python's own singletons: never one item
                    if sharing and refcount(item) > _ONE_HOLDER_IN_LOOP and len(item) > 1:
                        key = id(item)
                        found = memo_get(key)
                        if found is None:
                            found = memo[key] = VString(string_class, item)
                        else:
                            hit_ids.append(key)     # a string is never _PENDING
                        add(found)
                    else:
                        add(VString(string_class, item))
                elif kind is CBORTag and tags_fit and item.tag == TAG_SYMBOL and type(item.value) is str:
                    index = symbol_ids.get(item.value)
                    add(SYM_BASE + index if index is not None else symbol(item.value))
                elif kind is _Reference and tags_fit:
                    index = item.index
                    if type(index) is not int or not 0 <= index < len(shareables) or shareables[index] is _PENDING:
                        raise _GiveUp
                    add(shareables[index])
                elif kind is float:
                    add(item)
                else:
                    add(value(item, depth))
            return out

        def value(item: Any, depth: int, slot: Any = None) -> Any:
            kind = type(item)
            if kind is str:
                if sharing and refcount(item) > _ONE_HOLDER_IN_CALL and len(item) > 1:
                    return string(item)
                return VString(string_class, item)
            if kind is int:
                if SMALL_MIN <= item <= SMALL_MAX:
                    return item + ZERO
                if item.bit_length() > MAX_INTEGER_BITS - 8 or depth >= limit:
                    raise _GiveUp
                if sharing and refcount(item) > _ONE_HOLDER_IN_CALL:
                    found = memo_get(id(item))
                    if found is not None:
                        return again(found, item)
                    found = memo[id(item)] = LargeInt(integer_class, item)
                    return found
                return LargeInt(integer_class, item)
            if kind is float:
                return item
            if kind is bool:
                return TRUE if item else FALSE
            if item is None:
                return NIL
            if sharing and refcount(item) > _ONE_HOLDER_IN_CALL and (kind is list or kind is dict or kind is CBORTag
                            or ((kind is tuple or kind is cbor2.frozendict) and item)
                            or (kind is bytes and len(item) > 1)):
                # (), b"" and one-byte strings are Python's singletons: never one item
                found = memo_get(id(item))
                if found is not None:
                    return again(found, item)
                slot = id(item)
                if kind is CBORTag:
                    memo[slot] = _PENDING       # until made, unless it registers itself first
            if kind is list or kind is tuple:
                result = VArray(array_class, [])
                if slot is not None:
                    shareables[slot] = result
                if item:
                    if depth >= limit:
                        raise _GiveUp
                    result.items = elements(item, depth + 1)
                return result
            if kind is dict or kind is cbor2.frozendict:
                result = new_dictionary()
                if slot is not None:
                    shareables[slot] = result
                keys, values = [], []
                if item:
                    if depth >= limit:
                        raise _GiveUp
                    if sharing:             # no numbered slots: any order makes the same objects
                        keys, values = elements(item.keys(), depth + 1), elements(item.values(), depth + 1)
                    else:                   # reading order: value-sharing slots are numbered so
                        entries = elements([part for entry in item.items() for part in entry], depth + 1)
                        keys, values = entries[0::2], entries[1::2]
                    if len(keys) > 1 and not all(type(key) in _PLAIN_KEYS for key in item):
                        self.slow.refuse_duplicates(keys, "a map with duplicate keys")
                self.fill_dictionary(result, keys, values)
                return result
            if kind is bytes:
                result = new_bytes(item)
                if slot is not None:
                    shareables[slot] = result
                return result
            if depth >= limit:
                raise _GiveUp                   # everything below opens a tag's frame
            if kind is CBORTag:
                result = tagged(item.tag, item.value, depth + 1, slot, value, elements)
                if sharing and slot is not None and shareables[slot] is _PENDING:
                    shareables[slot] = result
                return result
            if kind is _Shared and not sharing:
                slot = len(shareables)
                shareables.append(_PENDING)
                result = value(item.value, depth + 1, slot)
                if shareables[slot] is _PENDING:
                    shareables[slot] = result
                return result
            if kind is _Reference and not sharing:
                index = item.index
                if type(index) is not int or not 0 <= index < len(shareables) or shareables[index] is _PENDING:
                    raise _GiveUp
                return shareables[index]
            raise _GiveUp

        return value(root, 0)

    def new_dictionary(self) -> Instance:
        layout = self.dictionary or self.dictionary_layout()
        return Instance(layout[0], [NIL] * layout[5])

    def fill_dictionary(self, dictionary: Instance, keys: list, values: list) -> None:
        """As ``Decoder.fill_dictionary``: entries in order, the index left to rebuild."""
        _, keys_at, values_at, count_at, index_at, _ = self.dictionary or self.dictionary_layout()
        array_class = self.vm.Array
        fields = dictionary.fields
        count = len(keys)
        if not keys:
            keys, values = [NIL], [NIL]         # room for one, as the slow path leaves it
        fields[keys_at] = VArray(array_class, keys)
        fields[values_at] = VArray(array_class, values)
        fields[count_at] = count + ZERO
        fields[index_at] = NIL

    def tagged(self, tag: int, content: Any, depth: int, slot: int | None,
               value: Callable[..., Any], elements: Callable[[Any, int], list]) -> Any:
        """A tag's value; ``depth`` counts the tag's own frame."""
        slow = self.slow
        kind = type(content)
        if tag == TAG_SYMBOL:
            if kind is not str:
                raise _GiveUp
            return self.vm.symbol(content)
        if tag == TAG_CHARACTER:
            if kind is not int or not 0 <= content <= SMALL_MAX or code_point_problem(content) is not None:
                raise _GiveUp
            return V.char_word(content)
        if tag == TAG_CLASS:
            if kind is not str:
                raise _GiveUp
            return slow.find_class(content)
        if tag == TAG_VECTOR or tag == TAG_SET:
            if kind is not list and kind is not tuple:
                raise _GiveUp
            collection = slow.new_collection("Vector" if tag == TAG_VECTOR else "Set")
            if slot is not None:
                self.shareables[slot] = collection
            if content and depth >= self.limit:
                raise _GiveUp
            items = elements(content, depth + 1)
            if tag == TAG_VECTOR:
                slow.fill_vector(collection, items)
            else:
                slow.refuse_duplicates(items, "a Set with duplicate elements")
                slow.fill_dictionary(_field(self.vm, collection, "table"), items, items)
            return collection
        # every other tag holds a record: a non-empty array, one more frame
        if (kind is not list and kind is not tuple) or not content or depth >= self.limit:
            raise _GiveUp
        inner = depth + 1
        if tag == TAG_OBJECT:
            if len(content) != 2 or type(content[0]) is not str \
                    or (type(content[1]) is not dict and type(content[1]) is not cbor2.frozendict):
                raise _GiveUp
            obj = slow.new_object(content[0])
            if slot is not None:
                self.shareables[slot] = obj
            fields = content[1]
            if fields and inner >= self.limit:
                raise _GiveUp
            names = self.vm.all_field_names(obj.cls)
            slots = obj.fields
            for name, element in fields.items():
                if type(name) is not str or name not in names:
                    raise _GiveUp               # the slow path names the missing field
                slots[names.index(name)] = value(element, inner + 1)
            return obj
        reader = _RECORD_TAGS.get(tag)
        if reader is None:
            raise _GiveUp
        return reader(self, content, inner, value)

    def indexed(self, record: Any, depth: int, value: Callable[..., Any]) -> Any:
        if len(record) != 2 or type(record[0]) is not str:
            raise _GiveUp
        cls = self.slow.find_class(record[0])
        contents = record[1]
        kind = type(contents)
        if cls.layout == "array" and (kind is list or kind is tuple):
            if contents and depth >= self.limit:
                raise _GiveUp
            return VArray(cls, [value(element, depth + 1) for element in contents])
        if cls.layout == "string" and kind is str:
            return VString(cls, contents)
        if cls.layout == "bytes" and kind is bytes:
            return VBytes(cls, bytearray(contents))
        raise _GiveUp

    def exception(self, record: Any, depth: int, value: Callable[..., Any]) -> Any:
        if len(record) != 2 or type(record[0]) is not str or not (record[1] is None or type(record[1]) is str):
            raise _GiveUp
        vm = self.vm
        cls = self.slow.find_class(record[0])
        exception_class = vm.globals.get("Exception")
        if exception_class is None or not inherits(cls, exception_class):
            raise _GiveUp
        exc = vm.new_instance(cls)
        if record[1] is not None:
            self.slow.set_field(exc, "messageText", vm.new_string(record[1]))
        return exc

    def method_source(self, record: Any, depth: int, value: Callable[..., Any]) -> Any:
        if len(record) != 3 or type(record[0]) is not str or type(record[1]) is not bool \
                or type(record[2]) is not str:
            raise _GiveUp
        vm, slow = self.vm, self.slow
        source = vm.new_instance(slow.find_class("MethodSource"))
        slow.set_field(source, "className", vm.new_string(record[0]))
        slow.set_field(source, "classSide", TRUE if record[1] else FALSE)
        slow.set_field(source, "source", vm.new_string(record[2]))
        return source

    def remote_reference(self, record: Any, depth: int, value: Callable[..., Any]) -> Any:
        # A reference to a remote object imports it (leases, handoffs, one proxy per
        # reference): only the reference decoder does that bookkeeping.
        raise _GiveUp

    def process(self, record: Any, depth: int, value: Callable[..., Any]) -> Any:
        node_refs = self.slow.node_refs
        if len(record) != 3 or not _identity(record) or node_refs is None:
            raise _GiveUp
        return node_refs.process(record[0], record[1], record[2])

    def node(self, record: Any, depth: int, value: Callable[..., Any]) -> Any:
        node_refs = self.slow.node_refs
        if len(record) != 2 or not _identity(record) or node_refs is None:
            raise _GiveUp
        return node_refs.node(record[0], record[1])


_RECORD_TAGS = {TAG_INDEXED: _Reader.indexed, TAG_EXCEPTION: _Reader.exception,
                TAG_METHOD_SOURCE: _Reader.method_source, TAG_REMOTE_REF: _Reader.remote_reference,
                TAG_PROCESS: _Reader.process, TAG_NODE: _Reader.node}


def _identity(record: Any) -> bool:
    """[node name, numbers...] as ``Decoder.node_reference`` accepts it."""
    return type(record[0]) is str and bool(record[0]) \
        and all(type(n) is int and 0 <= n <= SMALL_MAX for n in record[1:])



def _field(vm: Any, obj: Instance, name: str) -> Any:
    return obj.fields[vm.field_index(obj.cls, name)]


def decode(vm: Any, data: bytes, max_depth: int, node_refs: NodeRefs | None) -> Any:
    """The VM value of a whole message, or NOT_DONE."""
    if _REMOTE_REF_HEAD in data:
        # A reference to a remote object imports it (one proxy per reference, leases,
        # handoffs): the reference decoder does that bookkeeping for the whole message.
        # Met halfway through a fast decode it left the proxy alive after its last user
        # dropped it, so such messages (and, harmlessly, any holding these bytes) go there.
        return NOT_DONE
    try:
        if _plain_tag_heads(data):
            try:
                value = _read_sharing_natively(vm, data, max_depth, node_refs)
            except Exception:
                value = NOT_DONE            # e.g. a cycle through an item the memo skipped
            if value is not NOT_DONE:
                return value
        return _read_with_markers(vm, data, max_depth, node_refs)
    except Exception:
        return NOT_DONE


def _read_sharing_natively(vm: Any, data: bytes, max_depth: int, node_refs: NodeRefs | None) -> Any:
    """cbor2 resolves tags 28 and 29 itself, which costs nothing, where a callback for
    each costs a few microseconds. The tags then leave no trace but the identity of
    what they share, so the bytes are checked: every sharing tag must be written in
    its short form (``_plain_tag_heads``, which the caller checked), and the second
    meetings the conversion saw (one per shared reference, each of an object it made)
    must account for every ``d8 1c`` and ``d8 1d`` in the bytes — a sharing tag
    anywhere else (around a Symbol's name, a class name, a bignum's bytes, a Double),
    or two bytes that only look like one, leaves a difference and the markers decide.
    Each sharing tag is one more level for the reader: the depth limit here is lowered
    by as many."""
    if b"\xd8" in data:
        shareables = data.count(b"\xd8\x1c")
        references = data.count(b"\xd8\x1d")
    else:
        shareables = references = 0
    stream = io.BytesIO(data)
    plain = cbor2.CBORDecoder(stream, max_depth=max_depth + 1, allow_indefinite=False,
                              allow_duplicate_keys=False).decode()
    if stream.tell() != len(data):
        return NOT_DONE                     # bytes after the value
    slow = Decoder(vm, data, max_depth, node_refs)
    if not shareables and not references:
        return _Reader(vm, slow, max_depth).convert(plain)
    reader = _Reader(vm, slow, max_depth - shareables - 1, memo={})
    value = reader.convert(plain)
    if len(reader.hit_ids) != references or len(set(reader.hit_ids)) != shareables:
        return NOT_DONE
    return value


def _read_with_markers(vm: Any, data: bytes, max_depth: int, node_refs: NodeRefs | None) -> Any:
    stream = io.BytesIO(data)
    plain = cbor2.CBORDecoder(stream, semantic_decoders=_SEMANTIC, max_depth=max_depth + 1,
                              allow_indefinite=False, allow_duplicate_keys=False).decode()
    if stream.tell() != len(data):
        return NOT_DONE                     # bytes after the value
    slow = Decoder(vm, data, max_depth, node_refs)
    return _Reader(vm, slow, max_depth).convert(plain)
