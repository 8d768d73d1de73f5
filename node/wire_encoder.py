"""Writing VM values as CBOR (see ``node.wire``): iterative, with value-sharing tags
only for objects met more than once, and levels counted as the decoder will count
them. A leaf module: it imports only VM modules (values, objects, and the process
and proxy types that travel as references)."""
from __future__ import annotations

import struct
from typing import Any

from smalltalk_vm.node.wire_tags import (
    TAG_BIGNUM,
    TAG_CHARACTER,
    TAG_CLASS,
    TAG_EXCEPTION,
    TAG_INDEXED,
    TAG_METHOD_SOURCE,
    TAG_NEG_BIGNUM,
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
    WireError,
    field_value,
    field_values,
)
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.objects import (
    Closure,
    CompiledBlock,
    CompiledMethod,
    Context,
    Instance,
    LargeInt,
    VArray,
    VBytes,
    VClass,
    VString,
    inherits,
)
from smalltalk_vm.vm.process import Process
from smalltalk_vm.vm.proxies import RemoteObject

_MAYBE_BY_REFERENCE = (Instance, VArray, VString, VBytes)


class _Name:
    """A field name inside an object record: written as text, never shared."""
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Encoder:
    def __init__(self, vm: Any, max_depth: int, node_refs: NodeRefs | None = None) -> None:
        self.vm = vm
        self.max_depth = max_depth
        self.node_refs = node_refs
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
        refs = self.node_refs
        if refs is not None and (kind is RemoteObject or (kind in _MAYBE_BY_REFERENCE and refs.by_reference(value))):
            return "reference", []
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
        if (kind is Process or kind is RemoteProcess) and self.node_refs is not None:
            return "process", []
        if kind is Instance:
            cls = value.cls
            known = self.classes
            if self.node_refs is not None and cls is self.node_refs.node_class:
                return "node", []
            if cls is known["Vector"]:
                first = vm.int_of(field_value(vm, value, "first"))
                last = vm.int_of(field_value(vm, value, "last"))
                return "vector", field_value(vm, value, "storage").items[first - 1:last - 1]
            if cls is known["Dictionary"]:
                count = vm.int_of(field_value(vm, value, "count"))
                keys = field_value(vm, value, "keyArray").items[:count]
                values = field_value(vm, value, "valueArray").items[:count]
                return "map", [item for pair in zip(keys, values) for item in pair]
            if cls is known["Set"]:
                table = field_value(vm, value, "table")
                count = vm.int_of(field_value(vm, table, "count"))
                return "set", field_value(vm, table, "keyArray").items[:count]
            if cls is known["MethodSource"]:
                return "method_source", []
            if known["Exception"] is not None and inherits(cls, known["Exception"]):
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
                text = field_values(vm, value).get("messageText", V.NIL)
                self.head(6, TAG_EXCEPTION)
                self.head(4, 2)
                self.text(value.cls.name)
                if type(text) is VString or V.is_symbol(text):
                    self.text(vm.str_of(text))
                else:
                    self.out.append(0xF6)
            elif what == "method_source":
                frame(frame(depth))
                fields = field_values(vm, value)
                if type(fields["className"]) is not VString or type(fields["source"]) is not VString \
                        or fields["classSide"] not in (V.TRUE, V.FALSE):
                    raise WireError("a MethodSource needs its class name, side and source")
                self.method_source(fields["className"].chars, fields["classSide"] == V.TRUE,
                                   fields["source"].chars)
            elif what == "process" or what == "node":
                frame(frame(depth))
                if what == "process":
                    name, creation, number = self.node_refs.process_identity(value)
                    self.head(6, TAG_PROCESS)
                    self.head(4, 3)
                    self.text(name)
                    self.head(0, creation)
                    self.head(0, number)
                else:
                    name, creation = self.node_refs.node_identity(value)
                    self.head(6, TAG_NODE)
                    self.head(4, 2)
                    self.text(name)
                    self.head(0, creation)
            elif what == "reference":
                frame(frame(depth))
                node, creation, handle, class_name, handoff = self.node_refs.reference(value)
                self.head(6, TAG_REMOTE_REF)
                self.head(4, 5)
                self.text(node)
                self.head(0, creation)
                self.head(2, len(handle))
                self.out += handle
                self.text(class_name)
                self.head(0, handoff)
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
