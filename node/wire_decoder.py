"""Reading CBOR wire messages into VM values (see ``node.wire``): iterative, with
depth and size limits, value sharing (cyclic structures included), and WireError for
anything malformed — including a map with duplicate keys or a Set with duplicate
elements (RFC 8949 §5.6), which would otherwise become a corrupt collection. A leaf
module: of the VM it imports only its value, object, limits and text modules."""
from __future__ import annotations

import math
import struct
from typing import Any

from smalltalk_vm.node.wire_tags import (
    CLASS_NAME,
    HANDLE_BYTES,
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
    TAGS,
    MissingClass,
    NodeRefs,
    WireError,
    field_value,
)
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.limits import MAX_INTEGER_BITS
from smalltalk_vm.vm.objects import Instance, LargeInt, VArray, VBytes, VClass, VString, inherits
from smalltalk_vm.vm.text import code_point_problem

_PENDING = object()
# How deep the duplicate check follows Arrays inside keys; a deeper key is compared by
# identity here and by its own = when the collection builds its index.
_KEY_DEPTH = 32


class _Frame:
    """An open container while decoding. ``add`` takes each completed child;
    ``remaining`` counts the children still expected; ``slot`` is the value-sharing
    index its object must be registered under as soon as it exists (or None)."""
    __slots__ = ("items", "obj", "remaining", "slot", "state", "tag")

    def __init__(self, remaining: int, tag: int = -1, slot: int | None = None) -> None:
        self.remaining = remaining
        self.tag = tag
        self.slot = slot
        self.items: list = []
        self.obj: Any = None
        self.state = 0


class Decoder:
    def __init__(self, vm: Any, data: bytes, max_depth: int, node_refs: NodeRefs | None = None) -> None:
        self.vm = vm
        self.data = data
        self.pos = 0
        self.max_depth = max_depth
        self.node_refs = node_refs
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
                                           TAG_REMOTE_REF, TAG_INDEXED, TAG_PROCESS, TAG_NODE):
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
            self.refuse_duplicates(frame.items, "a Set with duplicate elements")
            self.fill_dictionary(field_value(vm, frame.obj, "table"), frame.items, frame.items)
            return frame.obj
        if kind == -6:
            keys = frame.items[0::2]
            self.refuse_duplicates(keys, "a map with duplicate keys")
            self.fill_dictionary(frame.obj, keys, frame.items[1::2])
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
            if len(value) * 8 > MAX_INTEGER_BITS:
                raise WireError(f"a bignum of {len(value)} bytes is bigger than an Integer may be")
            n = int.from_bytes(value, "big")
            return vm.make_int(n if tag == TAG_BIGNUM else -1 - n)
        if tag == TAG_SYMBOL:
            if type(value) is not str:
                raise WireError("a Symbol needs text")
            return vm.symbol(value)
        if tag == TAG_CHARACTER:
            if not (type(value) is int and V.INT_LO <= value < V.INT_HI):
                raise WireError("a Character needs a code point")
            problem = code_point_problem(value - V.ZERO)
            if problem is not None:
                raise WireError(f"a Character needs a code point: {problem}")
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
            return self.remote_reference(value)
        if tag == TAG_PROCESS or tag == TAG_NODE:
            return self.node_reference(tag, value)
        raise WireError(f"unknown tag {tag}")

    def node_reference(self, tag: int, value: Any) -> Any:
        """A process reference [node, creation, number] or a Node [name, creation]."""
        record = value.items if isinstance(value, _Frame) else None
        size = 3 if tag == TAG_PROCESS else 2
        what = "a process reference" if tag == TAG_PROCESS else "a node"
        if record is None or len(record) != size or type(record[0]) is not str or not record[0] \
                or not all(type(n) is int and V.INT_LO <= n < V.INT_HI and n >= V.ZERO for n in record[1:]):
            raise WireError(f"{what} needs [node name, creation{', number' if size == 3 else ''}]")
        if self.node_refs is None:
            raise WireError(f"{what} cannot be decoded outside the node layer")
        numbers = [n - V.ZERO for n in record[1:]]
        if tag == TAG_PROCESS:
            return self.node_refs.process(record[0], numbers[0], numbers[1])
        return self.node_refs.node(record[0], numbers[0])

    def remote_reference(self, value: Any) -> Any:
        """A reference [node name, creation, handle, class name, handoff]."""
        if self.node_refs is None:
            raise WireError("a remote reference cannot be decoded outside the node layer")
        record = value.items if isinstance(value, _Frame) else None
        if record is None or len(record) != 5 or type(record[0]) is not str or not record[0] \
                or type(record[2]) is not bytes or len(record[2]) != HANDLE_BYTES \
                or type(record[3]) is not str or not CLASS_NAME.match(record[3]) \
                or not all(type(n) is int and V.ZERO <= n < V.INT_HI for n in (record[1], record[4])):
            raise WireError("a remote reference needs [node name, creation, 16-byte handle, class name, handoff]")
        return self.node_refs.remote_object(record[0], record[1] - V.ZERO, record[2], record[3],
                                            record[4] - V.ZERO)

    # -- duplicates (RFC 8949 §5.6)
    def refuse_duplicates(self, keys: list, what: str) -> None:
        """Refuse keys two of which the VM's ``=`` holds equal, as far as it can be
        decided without running code: numbers by exact value (``1 = 1.0``, ``0.0 =
        -0.0``; NaN equals nothing), Strings and Symbols by their characters, Characters,
        nil and Booleans by value, ByteArrays by their bytes, Arrays element by element;
        any other object by identity (the same shared object twice). Keys of classes
        with their own ``=`` are checked again by the Dictionary when it builds its
        index (lib/Dictionary.som)."""
        if len(keys) < 2:
            return
        seen: set = set()
        add = seen.add
        int_lo, int_hi, zero = V.INT_LO, V.INT_HI, V.ZERO
        memo: dict[int, Any] = {}
        for key in keys:
            # Numbers become Python numbers, whose == and hash already say 1 = 1.0 = 1
            # (and NaN equals nothing); everything else a tagged tuple.
            if type(key) is int and int_lo <= key < int_hi:
                equality: Any = key - zero
            elif type(key) is float:
                if key != key:
                    continue                                # NaN = NaN is false: never a duplicate
                equality = key
            else:
                equality = self.equality_key(key, memo, 0)
            if equality in seen:
                raise WireError(f"{what} (RFC 8949 §5.6)")
            add(equality)

    def equality_key(self, value: Any, memo: dict, depth: int) -> Any:
        """A hashable stand-in for ``value`` under the VM's ``=`` (see refuse_duplicates)."""
        kind = type(value)
        if kind is int:
            if V.INT_LO <= value < V.INT_HI:
                return value - V.ZERO
            if V.is_symbol(value):
                return ("text", self.vm.symbol_name(value))
            return ("word", value)
        if kind is float:
            return ("nan", object()) if value != value else value
        if kind is LargeInt:
            return value.n
        cls = getattr(value, "cls", None)
        vm = self.vm
        if kind is VString and cls is vm.String:
            return ("text", value.chars)
        if kind is VBytes and cls is vm.ByteArray:
            return ("bytes", bytes(value.data))
        identity = ("identity", id(value))
        if kind is not VArray or cls is not vm.Array or depth >= _KEY_DEPTH or self.still_open(value):
            return identity
        found = memo.get(id(value))
        if found is not None:
            return found
        memo[id(value)] = identity                          # a cycle back to it: identity
        key = ("array", tuple(self.equality_key(item, memo, depth + 1) for item in value.items))
        memo[id(value)] = key
        return key

    def still_open(self, obj: Any) -> bool:
        """Whether ``obj`` is a container still being decoded (its contents are not all
        there yet, so it can only be compared by identity)."""
        return any(frame.obj is obj for frame in self.stack)

    # -- VM objects
    def find_class(self, name: str) -> VClass:
        if not CLASS_NAME.match(name):
            raise WireError(f"{name!r} is not a class name")
        try:
            cls = self.vm.global_value(name)
        except Exception as error:
            raise WireError(f"class {name} cannot be loaded: {error}") from None
        if type(cls) is not VClass:
            raise MissingClass(name)
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
        # A proxy is made only from a remote reference: built from fields it would be
        # an Instance posing as a proxy whose every send fails.
        if cls.layout != "object" or cls is self.vm.System or cls is self.vm.kernel_class("RemoteProxy"):
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
        storage = vm.new_array([*items, V.NIL])
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
        if not inherits(cls, exception_class):
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
