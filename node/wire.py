"""CBOR wire values: every transmissible VM value to bytes and back.

One table of tags (``TAGS``; documented in docs/wire.md). Plain data — numbers,
strings, arrays, dictionaries, nil and booleans — is ordinary CBOR any library reads
as the obvious value. Shared and cyclic structure within one message uses the
standard value-sharing tags 28/29, emitted only for objects met more than once.

Encoding and decoding are iterative (no recursion on the data's depth), and the
decoder enforces depth and size limits, rejects unknown tags, malformed and
indefinite-length items with ``WireError`` — the only exception it raises.

This is a leaf module: it imports only the VM's value and object modules.
(cbor2's decoder is not used here because it cannot resolve a shared reference that
points into a tagged item still being decoded, which cyclic objects need.)
"""
from __future__ import annotations

import math
import re
import struct
from typing import Any, Callable

from vm import value as V
from vm.objects import (
    Closure, CompiledBlock, CompiledMethod, Context, Instance, LargeInt, VArray, VBytes,
    VClass, VString,
)

TAG_BIGNUM = 2
TAG_NEG_BIGNUM = 3
TAG_SHAREABLE = 28
TAG_SHAREDREF = 29
TAG_SYMBOL = 51001          # text: the Symbol's name, interned again on decode
TAG_CHARACTER = 51002       # uint: code point
TAG_OBJECT = 51003          # [class name, {field name: value}]: an instance by value
TAG_REMOTE_REF = 51004      # [node name, handle bytes]: reserved for the node layer
TAG_EXCEPTION = 51005       # [class name, messageText]
TAG_METHOD_SOURCE = 51006   # [class name, class side?, source text]
TAG_VECTOR = 51007          # [elements]
TAG_SET = 51008             # [elements]
TAG_CLASS = 51009           # text: a class, by name
TAG_INDEXED = 51010         # [class name, array | text | bytes]: a subclass of Array/String/ByteArray

TAGS = {
    TAG_BIGNUM: "unsigned bignum (RFC 8949)", TAG_NEG_BIGNUM: "negative bignum (RFC 8949)",
    TAG_SHAREABLE: "shareable value", TAG_SHAREDREF: "shared reference",
    TAG_SYMBOL: "Symbol", TAG_CHARACTER: "Character", TAG_OBJECT: "object by value",
    TAG_REMOTE_REF: "remote reference", TAG_EXCEPTION: "exception",
    TAG_METHOD_SOURCE: "method source", TAG_VECTOR: "Vector", TAG_SET: "Set",
    TAG_CLASS: "class by name", TAG_INDEXED: "instance of a subclass of Array, String or ByteArray",
}

_CLASS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

DEFAULT_MAX_DEPTH = 256
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class WireError(Exception):
    """A value that cannot be sent, or bytes that are not a valid message."""


def _fields(vm: Any, obj: Instance) -> dict[str, Any]:
    return dict(zip(vm.all_field_names(obj.cls), obj.fields))


def _field(vm: Any, obj: Instance, name: str) -> Any:
    return obj.fields[vm.field_index(obj.cls, name)]


def _is_kind_of(cls: Any, ancestor: Any) -> bool:
    while cls is not None:
        if cls is ancestor:
            return True
        cls = cls.superclass
    return False


# ====================================================================== encoding

class _Name:
    """A field name inside an object record: written as text, never shared."""
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Encoder:
    def __init__(self, vm: Any, max_depth: int) -> None:
        self.vm = vm
        self.max_depth = max_depth
        self.out = bytearray()
        self.classes = {name: vm.globals.get(name) for name in
                        ("Vector", "Dictionary", "Set", "MethodSource", "Exception")}

    # -- CBOR heads and leaves
    def head(self, major: int, n: int) -> None:
        out = self.out
        if n < 24:
            out.append(major << 5 | n)
        elif n < 0x100:
            out += bytes((major << 5 | 24, n))
        elif n < 0x10000:
            out.append(major << 5 | 25)
            out += n.to_bytes(2, "big")
        elif n < 0x100000000:
            out.append(major << 5 | 26)
            out += n.to_bytes(4, "big")
        else:
            out.append(major << 5 | 27)
            out += n.to_bytes(8, "big")

    def integer(self, n: int) -> None:
        if 0 <= n < 1 << 64:
            self.head(0, n)
        elif -(1 << 64) <= n < 0:
            self.head(1, -1 - n)
        else:
            tag, magnitude = (TAG_BIGNUM, n) if n > 0 else (TAG_NEG_BIGNUM, -1 - n)
            data = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
            self.head(6, tag)
            self.head(2, len(data))
            self.out += data

    def text(self, s: str) -> None:
        try:
            data = s.encode("utf-8")
        except UnicodeEncodeError:
            raise WireError("a string holds characters that are not valid Unicode") from None
        self.head(3, len(data))
        self.out += data

    def immediate(self, w: int) -> None:
        if V.INT_LO <= w < V.INT_HI:
            self.integer(w - V.ZERO)
        elif w == V.NIL:
            self.out.append(0xF6)
        elif w == V.TRUE:
            self.out.append(0xF5)
        elif w == V.FALSE:
            self.out.append(0xF4)
        elif V.is_char(w):
            self.head(6, TAG_CHARACTER)
            self.head(0, V.char_code(w))
        elif V.is_symbol(w):
            self.head(6, TAG_SYMBOL)
            self.text(self.vm.symbol_name(w))
        else:
            raise WireError(f"cannot send the value {w:#x}")

    # -- what a heap object travels as
    def classify(self, value: Any) -> tuple[str, list]:
        """The encoding of a heap object and its children, in writing order."""
        vm = self.vm
        kind = type(value)
        if kind is VArray:
            return ("array", value.items) if value.cls is vm.Array else ("indexed", value.items)
        if kind is VString:
            return ("VString", []) if value.cls is vm.String else ("indexed", [])
        if kind is VBytes:
            return ("VBytes", []) if value.cls is vm.ByteArray else ("indexed", [])
        if kind is LargeInt or kind is VClass:
            return kind.__name__, []
        if kind is CompiledMethod:
            return "method", []
        if kind is Instance:
            cls = value.cls
            known = self.classes
            if cls is known["Vector"]:
                first = vm.int_of(_field(vm, value, "first"))
                last = vm.int_of(_field(vm, value, "last"))
                return "vector", _field(vm, value, "storage").items[first - 1:last - 1]
            if cls is known["Dictionary"]:
                count = vm.int_of(_field(vm, value, "count"))
                keys = _field(vm, value, "keyArray").items[:count]
                values = _field(vm, value, "valueArray").items[:count]
                return "map", [item for pair in zip(keys, values) for item in pair]
            if cls is known["Set"]:
                table = _field(vm, value, "table")
                count = vm.int_of(_field(vm, table, "count"))
                return "set", _field(vm, table, "keyArray").items[:count]
            if cls is known["MethodSource"]:
                return "method_source", []
            if known["Exception"] is not None and _is_kind_of(cls, known["Exception"]):
                return "exception", []
            return "object", list(value.fields)
        if kind is Closure or kind is CompiledBlock:
            raise WireError("a block cannot be sent: code travels as source")
        if isinstance(value, Context):
            raise WireError("a context cannot be sent")
        raise WireError(f"cannot send {vm.class_of(value).name}: the wire has no encoding for it")

    def shared_objects(self, root: Any) -> set[int]:
        """Ids of the heap objects met more than once: they get value-sharing tags."""
        seen: set[int] = set()
        shared: set[int] = set()
        pending = [root]
        while pending:
            value = pending.pop()
            if type(value) is int or type(value) is float:
                continue
            key = id(value)
            if key in seen:
                shared.add(key)
                continue
            seen.add(key)
            pending.extend(self.classify(value)[1])
        return shared

    def frame(self, depth: int) -> int:
        """The decoder opens a frame here (a tag, or a non-empty array or map): refuse
        what it would refuse. Answers the depth of what is inside."""
        if depth >= self.max_depth:
            raise WireError(f"the value is nested deeper than {self.max_depth} levels")
        return depth + 1

    def encode(self, root: Any) -> bytes:
        shared = self.shared_objects(root)
        indices: dict[int, int] = {}
        vm = self.vm
        frame = self.frame
        # Work items: (value, depth), depth counting the frames the decoder will have
        # open when it reads the value.
        stack: list[tuple[Any, int]] = [(root, 0)]
        while stack:
            value, depth = stack.pop()
            kind = type(value)
            if kind is int:
                if not V.INT_LO <= value < V.INT_HI and value not in (V.NIL, V.TRUE, V.FALSE):
                    frame(depth)                # Characters and Symbols are tagged
                self.immediate(value)
                continue
            if kind is float:
                self.out.append(0xFB)
                self.out += struct.pack(">d", value)
                continue
            if kind is _Name:
                self.text(value.text)
                continue
            key = id(value)
            if key in indices:
                frame(depth)
                self.head(6, TAG_SHAREDREF)
                self.head(0, indices[key])
                continue
            if key in shared:
                indices[key] = len(indices)
                depth = frame(depth)
                self.head(6, TAG_SHAREABLE)
            what, children = self.classify(value)
            if what == "VString":
                self.text(value.chars)
            elif what == "VBytes":
                self.head(2, len(value.data))
                self.out += value.data
            elif what == "LargeInt":
                if not -(1 << 64) <= value.n < 1 << 64:
                    frame(depth)
                self.integer(value.n)
            elif what == "VClass":
                if value.is_meta:
                    raise WireError("a metaclass cannot be sent")
                frame(depth)
                self.head(6, TAG_CLASS)
                self.text(value.name)
            elif what == "array":
                inner = frame(depth) if children else depth
                self.head(4, len(children))
                stack.extend((child, inner) for child in reversed(children))
            elif what == "vector" or what == "set":
                inner = frame(depth)
                inner = frame(inner) if children else inner
                self.head(6, TAG_VECTOR if what == "vector" else TAG_SET)
                self.head(4, len(children))
                stack.extend((child, inner) for child in reversed(children))
            elif what == "indexed":
                inner = frame(frame(depth))
                self.head(6, TAG_INDEXED)
                self.head(4, 2)
                self.text(value.cls.name)
                if kind is VString:
                    self.text(value.chars)
                elif kind is VBytes:
                    self.head(2, len(value.data))
                    self.out += value.data
                else:
                    inner = frame(inner) if children else inner
                    self.head(4, len(children))
                    stack.extend((child, inner) for child in reversed(children))
            elif what == "map":
                inner = frame(depth) if children else depth
                self.head(5, len(children) // 2)
                stack.extend((child, inner) for child in reversed(children))
            elif what == "object":
                names = vm.all_field_names(value.cls)
                inner = frame(frame(depth))
                inner = frame(inner) if names else inner
                self.head(6, TAG_OBJECT)
                self.head(4, 2)
                self.text(value.cls.name)
                self.head(5, len(names))
                for name, child in reversed(list(zip(names, children))):
                    stack.append((child, inner))
                    stack.append((_Name(name), inner))
            elif what == "exception":
                frame(frame(depth))
                text = _fields(vm, value).get("messageText", V.NIL)
                self.head(6, TAG_EXCEPTION)
                self.head(4, 2)
                self.text(value.cls.name)
                if type(text) is VString or V.is_symbol(text):
                    self.text(vm.str_of(text))
                else:
                    self.out.append(0xF6)
            elif what == "method_source":
                frame(frame(depth))
                fields = _fields(vm, value)
                if type(fields["className"]) is not VString or type(fields["source"]) is not VString \
                        or fields["classSide"] not in (V.TRUE, V.FALSE):
                    raise WireError("a MethodSource needs its class name, side and source")
                self.method_source(fields["className"].chars, fields["classSide"] == V.TRUE,
                                   fields["source"].chars)
            elif what == "method":
                frame(frame(depth))
                holder = value.holder
                if holder is None or not value.source:
                    raise WireError("a method without source cannot be sent")
                name = holder.name[:-len(" class")] if holder.is_meta else holder.name
                self.method_source(name, holder.is_meta, value.source)
        return bytes(self.out)

    def method_source(self, class_name: str, class_side: bool, source: str) -> None:
        self.head(6, TAG_METHOD_SOURCE)
        self.head(4, 3)
        self.text(class_name)
        self.out.append(0xF5 if class_side else 0xF4)
        self.text(source)


def encode(vm: Any, value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    """The CBOR bytes of a VM value. Raises WireError — and nothing else — for what
    cannot be sent (including objects whose internals are not what their class
    expects)."""
    try:
        return _Encoder(vm, max_depth).encode(value)
    except WireError:
        raise
    except Exception as error:  # noqa: BLE001 — e.g. a Dictionary with broken fields
        raise WireError(f"cannot encode the value: {type(error).__name__}: {error}") from None


# ====================================================================== decoding

_PENDING = object()


class _Frame:
    """An open container while decoding. ``add`` takes each completed child;
    ``remaining`` counts the children still expected; ``slot`` is the value-sharing
    index its object must be registered under as soon as it exists (or None)."""
    __slots__ = ("remaining", "slot", "tag", "items", "obj", "state")

    def __init__(self, remaining: int, tag: int = -1, slot: int | None = None) -> None:
        self.remaining = remaining
        self.tag = tag
        self.slot = slot
        self.items: list = []
        self.obj: Any = None
        self.state = 0


class _Decoder:
    def __init__(self, vm: Any, data: bytes, max_depth: int,
                 remote_refs: Callable[[str, bytes], Any] | None) -> None:
        self.vm = vm
        self.data = data
        self.pos = 0
        self.max_depth = max_depth
        self.remote_refs = remote_refs
        self.shareables: list = []
        self.stack: list[_Frame] = []

    # -- reading heads
    def need(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise WireError("truncated message")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def argument(self, info: int) -> int:
        if info < 24:
            return info
        if info == 24:
            return self.need(1)[0]
        if info == 25:
            return int.from_bytes(self.need(2), "big")
        if info == 26:
            return int.from_bytes(self.need(4), "big")
        if info == 27:
            return int.from_bytes(self.need(8), "big")
        if info == 31:
            raise WireError("indefinite-length items are not accepted")
        raise WireError(f"malformed item header (additional information {info})")

    def count(self, info: int, per_item: int) -> int:
        n = self.argument(info)
        if n * per_item > len(self.data) - self.pos:
            raise WireError("a length runs past the end of the message")
        return n

    # -- the loop
    def decode(self) -> Any:
        data = self.data
        while True:
            if self.pos >= len(data):
                raise WireError("truncated message")
            initial = data[self.pos]
            self.pos += 1
            major, info = initial >> 5, initial & 31
            value: Any = _PENDING
            if major == 0:
                value = self.vm.make_int(self.argument(info))
            elif major == 1:
                value = self.vm.make_int(-1 - self.argument(info))
            elif major == 2:
                value = self.bytes_item(self.need(self.count(info, 1)))
            elif major == 3:
                value = self.text_item(self.need(self.count(info, 1)))
            elif major == 4:
                n = self.count(info, 1)
                frame = self.open_array(n)
                if n == 0:
                    value = self.close(frame)
                else:
                    self.push(frame)
            elif major == 5:
                n = self.count(info, 2)
                frame = self.open_map(n)
                if n == 0:
                    value = self.close(frame)
                else:
                    self.push(frame)
            elif major == 6:
                self.open_tag(self.argument(info))
            else:
                value = self.simple(info)
            while value is not _PENDING:
                if not self.stack:
                    if self.pos != len(data):
                        raise WireError(f"{len(data) - self.pos} bytes after the end of the value")
                    return value
                frame = self.stack[-1]
                value = self.add(frame, value)

    def push(self, frame: _Frame) -> None:
        if len(self.stack) >= self.max_depth:
            raise WireError(f"the message is nested deeper than {self.max_depth} levels")
        self.stack.append(frame)

    def parent_slot(self) -> int | None:
        """The value-sharing slot a container opened now must fill at once."""
        if not self.stack:
            return None
        top = self.stack[-1]
        if top.tag == TAG_SHAREABLE and top.slot is not None and self.shareables[top.slot] is _PENDING:
            return top.slot
        if top.tag in (TAG_VECTOR, TAG_SET, TAG_OBJECT) and top.slot is not None:
            return top.slot
        return None

    def register(self, slot: int | None, obj: Any) -> None:
        if slot is not None and self.shareables[slot] is _PENDING:
            self.shareables[slot] = obj

    # -- leaves
    def raw_context(self) -> bool:
        """Whether the item being read is part of a tag's own data (a name, a bignum's
        bytes, a record field), not a VM String or ByteArray."""
        if not self.stack:
            return False
        top = self.stack[-1]
        return top.tag in (TAG_BIGNUM, TAG_NEG_BIGNUM, TAG_SYMBOL, TAG_CLASS, -1) \
            or (top.tag == -2 and top.state == 0)

    def bytes_item(self, chunk: bytes) -> Any:
        return chunk if self.raw_context() else self.vm.new_bytes(chunk)

    def text_item(self, chunk: bytes) -> Any:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("a text string is not valid UTF-8") from None
        return text if self.raw_context() else self.vm.new_string(text)

    def simple(self, info: int) -> Any:
        if info == 20:
            return V.FALSE
        if info == 21:
            return V.TRUE
        if info == 22 or info == 23:
            return V.NIL
        if info == 25:
            return _half(self.need(2))
        if info == 26:
            return struct.unpack(">f", self.need(4))[0]
        if info == 27:
            return struct.unpack(">d", self.need(8))[0]
        if info == 31:
            raise WireError("unexpected break")
        raise WireError(f"unknown simple value {info}")

    # -- containers
    def open_array(self, n: int) -> _Frame:
        top = self.stack[-1] if self.stack else None
        slot = self.parent_slot()
        if top is not None and top.tag in (TAG_OBJECT, TAG_EXCEPTION, TAG_METHOD_SOURCE,
                                           TAG_REMOTE_REF, TAG_INDEXED):
            frame = _Frame(n, tag=-1, slot=slot)       # a record: plain Python list
            frame.state = top.tag
            return frame
        if top is not None and top.tag == TAG_VECTOR:
            frame = _Frame(n, tag=-3, slot=slot)
            frame.obj = self.new_collection("Vector")
        elif top is not None and top.tag == TAG_SET:
            frame = _Frame(n, tag=-4, slot=slot)
            frame.obj = self.new_collection("Set")
        else:
            frame = _Frame(n, tag=-5, slot=slot)
            frame.obj = self.vm.new_array([])
        self.register(slot, frame.obj)
        return frame

    def open_map(self, n: int) -> _Frame:
        top = self.stack[-1] if self.stack else None
        if top is not None and top.tag == -1 and top.state == TAG_OBJECT and len(top.items) == 1:
            frame = _Frame(2 * n, tag=-2)             # an object's fields, by name
            frame.obj = top.obj
            return frame
        frame = _Frame(2 * n, tag=-6, slot=self.parent_slot())
        frame.obj = self.new_collection("Dictionary")
        self.register(frame.slot, frame.obj)
        return frame

    def open_tag(self, tag: int) -> None:
        if tag not in TAGS:
            raise WireError(f"unknown tag {tag}")
        slot = None
        if tag == TAG_SHAREABLE:
            slot = len(self.shareables)
            self.shareables.append(_PENDING)
        elif tag in (TAG_VECTOR, TAG_SET, TAG_OBJECT):
            slot = self.parent_slot()
        self.push(_Frame(1, tag=tag, slot=slot))

    def add(self, frame: _Frame, value: Any) -> Any:
        """Give a completed child to the open frame; answer the frame's own value if it
        is now complete (and pop it), else _PENDING."""
        kind = frame.tag
        if kind == -1:                       # record list
            frame.items.append(value)
            if frame.state == TAG_OBJECT and len(frame.items) == 1:
                frame.obj = self.new_object(value)
                self.register(frame.slot, frame.obj)
        elif kind == -2:                     # object fields: name, value, name, value, ...
            if frame.state == 0:
                if type(value) is not str:
                    raise WireError("an object's field names must be text")
                frame.items.append(value)
                frame.state = 1
            else:
                self.set_field(frame.obj, frame.items[-1], value)
                frame.state = 0
        else:
            frame.items.append(value)
        frame.remaining -= 1
        if frame.remaining > 0:
            return _PENDING
        self.stack.pop()
        return self.close(frame)

    def close(self, frame: _Frame) -> Any:
        kind = frame.tag
        vm = self.vm
        if kind == -5:
            frame.obj.items = frame.items
            return frame.obj
        if kind == -3:
            self.fill_vector(frame.obj, frame.items)
            return frame.obj
        if kind == -4:
            self.fill_dictionary(_field(vm, frame.obj, "table"), frame.items, frame.items)
            return frame.obj
        if kind == -6:
            self.fill_dictionary(frame.obj, frame.items[0::2], frame.items[1::2])
            return frame.obj
        if kind == -1 or kind == -2:
            return frame if kind == -1 else frame.obj
        return self.close_tag(frame, frame.items[0])

    def close_tag(self, frame: _Frame, value: Any) -> Any:
        tag = frame.tag
        vm = self.vm
        if tag == TAG_SHAREABLE:
            self.register(frame.slot, value)
            return value
        if tag == TAG_SHAREDREF:
            if not (type(value) is int and V.INT_LO <= value < V.INT_HI):
                raise WireError("a shared reference needs an index")
            index = value - V.ZERO
            if not 0 <= index < len(self.shareables) or self.shareables[index] is _PENDING:
                raise WireError(f"shared reference {index} to nothing shared yet")
            return self.shareables[index]
        if tag == TAG_BIGNUM or tag == TAG_NEG_BIGNUM:
            if type(value) is not bytes:
                raise WireError("a bignum needs a byte string")
            n = int.from_bytes(value, "big")
            return vm.make_int(n if tag == TAG_BIGNUM else -1 - n)
        if tag == TAG_SYMBOL:
            if type(value) is not str:
                raise WireError("a Symbol needs text")
            return vm.symbol(value)
        if tag == TAG_CHARACTER:
            if not (type(value) is int and V.INT_LO <= value < V.INT_HI) \
                    or not 0 <= value - V.ZERO < 0x110000:
                raise WireError("a Character needs a code point")
            return V.char_word(value - V.ZERO)
        if tag == TAG_CLASS:
            if type(value) is not str:
                raise WireError("a class needs a name")
            return self.find_class(value)
        if tag == TAG_VECTOR or tag == TAG_SET:
            wanted = "Vector" if tag == TAG_VECTOR else "Set"
            if type(value) is not Instance or value.cls.name != wanted:
                raise WireError(f"a {wanted} needs an array")
            return value
        if tag == TAG_OBJECT:
            record = value.items if isinstance(value, _Frame) else None
            if record is None or len(record) != 2 or value.obj is None or record[1] is not value.obj:
                raise WireError("an object needs [class name, {fields}]")
            return record[1]
        if tag == TAG_INDEXED:
            return self.new_indexed(value)
        if tag == TAG_EXCEPTION:
            return self.new_exception(value)
        if tag == TAG_METHOD_SOURCE:
            return self.new_method_source(value)
        if tag == TAG_REMOTE_REF:
            record = value.items if isinstance(value, _Frame) else None
            if record is None or len(record) != 2 or type(record[0]) is not str or type(record[1]) is not bytes:
                raise WireError("a remote reference needs [node, handle]")
            if self.remote_refs is None:
                raise WireError("a remote reference cannot be decoded outside the node layer")
            return self.remote_refs(record[0], record[1])
        raise WireError(f"unknown tag {tag}")

    # -- VM objects
    def find_class(self, name: str) -> VClass:
        if not _CLASS_NAME.match(name):
            raise WireError(f"{name!r} is not a class name")
        try:
            cls = self.vm.global_value(name)
        except Exception as error:  # noqa: BLE001 — a broken class file is still a refusal
            raise WireError(f"class {name} cannot be loaded: {error}") from None
        if type(cls) is not VClass:
            raise WireError(f"this VM has no class {name}")
        return cls

    def new_collection(self, name: str) -> Instance:
        cls = self.find_class(name)
        obj = self.vm.new_instance(cls)
        if name == "Set":
            self.set_field(obj, "table", self.new_collection("Dictionary"))
        return obj

    def new_object(self, name: Any) -> Instance:
        if type(name) is not str:
            raise WireError("an object needs a class name")
        cls = self.find_class(name)
        if cls.layout != "object" or cls is self.vm.System:
            raise WireError(f"{name} instances cannot be made from fields")
        return self.vm.new_instance(cls)

    def new_indexed(self, value: Any) -> Any:
        record = value.items if isinstance(value, _Frame) else None
        if record is None or len(record) != 2 or type(record[0]) is not str:
            raise WireError("an indexable instance needs [class name, contents]")
        cls = self.find_class(record[0])
        contents = record[1]
        if cls.layout == "array" and type(contents) is VArray and contents.cls is self.vm.Array:
            return VArray(cls, contents.items)
        if cls.layout == "string" and type(contents) is str:
            return VString(cls, contents)
        if cls.layout == "bytes" and type(contents) is bytes:
            return VBytes(cls, bytearray(contents))
        raise WireError(f"{record[0]} instances cannot hold that content")

    def set_field(self, obj: Instance, name: str, value: Any) -> None:
        names = self.vm.all_field_names(obj.cls)
        if name not in names:
            raise WireError(f"{obj.cls.name} has no field {name}")
        obj.fields[names.index(name)] = value

    def fill_vector(self, vector: Instance, items: list) -> None:
        vm = self.vm
        storage = vm.new_array(list(items) + [V.NIL])
        self.set_field(vector, "storage", storage)
        self.set_field(vector, "first", vm.make_int(1))
        self.set_field(vector, "last", vm.make_int(len(items) + 1))

    def fill_dictionary(self, dictionary: Instance, keys: list, values: list) -> None:
        """Entries in order; the hash index is left nil for the Dictionary to rebuild
        with the keys' own hashcode methods on first use."""
        vm = self.vm
        capacity = max(len(keys), 1)
        self.set_field(dictionary, "keyArray", vm.new_array(list(keys) + [V.NIL] * (capacity - len(keys))))
        self.set_field(dictionary, "valueArray", vm.new_array(list(values) + [V.NIL] * (capacity - len(values))))
        self.set_field(dictionary, "count", vm.make_int(len(keys)))
        self.set_field(dictionary, "index", V.NIL)

    def new_exception(self, value: Any) -> Instance:
        record = value.items if isinstance(value, _Frame) else None
        if record is None or len(record) != 2 or type(record[0]) is not str:
            raise WireError("an exception needs [class name, messageText]")
        cls = self.find_class(record[0])
        exception_class = self.vm.globals.get("Exception")
        if not _is_kind_of(cls, exception_class):
            raise WireError(f"{record[0]} is not an exception class")
        exc = self.vm.new_instance(cls)
        text = record[1]
        if text != V.NIL:
            if type(text) is not str:
                raise WireError("an exception's messageText must be text")
            self.set_field(exc, "messageText", self.vm.new_string(text))
        return exc

    def new_method_source(self, value: Any) -> Instance:
        record = value.items if isinstance(value, _Frame) else None
        if record is None or len(record) != 3 or type(record[0]) is not str \
                or record[1] not in (V.TRUE, V.FALSE) or type(record[2]) is not str:
            raise WireError("method source needs [class name, class side, source]")
        source = self.vm.new_instance(self.find_class("MethodSource"))
        self.set_field(source, "className", self.vm.new_string(record[0]))
        self.set_field(source, "classSide", record[1])
        self.set_field(source, "source", self.vm.new_string(record[2]))
        return source


def _half(chunk: bytes) -> float:
    bits = int.from_bytes(chunk, "big")
    exponent = (bits >> 10) & 0x1F
    mantissa = bits & 0x3FF
    if exponent == 0:
        value = math.ldexp(mantissa, -24)
    elif exponent == 31:
        value = math.inf if mantissa == 0 else math.nan
    else:
        value = math.ldexp(mantissa + 1024, exponent - 25)
    return -value if bits & 0x8000 else value


def decode(vm: Any, data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH,
           max_bytes: int = DEFAULT_MAX_BYTES,
           remote_refs: Callable[[str, bytes], Any] | None = None) -> Any:
    """The VM value of a message. Raises WireError — and nothing else — for bytes that
    are malformed, too big or too deep, use unknown tags, or name classes this VM lacks."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError("a message is bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise WireError(f"the message is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data:
        raise WireError("an empty message")
    try:
        return _Decoder(vm, data, max_depth, remote_refs).decode()
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError, RecursionError, IndexError,
            KeyError, AttributeError, struct.error) as error:
        raise WireError(f"malformed message ({type(error).__name__}: {error})") from None
