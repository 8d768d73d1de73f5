"""The wire's vocabulary, shared by its encoder and decoder: the table of CBOR tags for
VM values, the limits, and WireError. A leaf module: it imports only the VM's value
and object modules."""
from __future__ import annotations

import os
import re
from typing import Any, Protocol

from smalltalk_vm.vm.objects import Instance

TAG_BIGNUM = 2
TAG_NEG_BIGNUM = 3
TAG_SHAREABLE = 28
TAG_SHAREDREF = 29
TAG_SYMBOL = 51001          # text: the Symbol's name, interned again on decode
TAG_CHARACTER = 51002       # uint: code point
TAG_OBJECT = 51003          # [class name, {field name: value}]: an instance by value
TAG_REMOTE_REF = 51004      # [node name, creation, handle, class name, handoff]: a reference (node layer only)
TAG_EXCEPTION = 51005       # [class name, messageText]
TAG_METHOD_SOURCE = 51006   # [class name, class side?, source text]
TAG_VECTOR = 51007          # [elements]
TAG_SET = 51008             # [elements]
TAG_CLASS = 51009           # text: a class, by name
TAG_INDEXED = 51010         # [class name, array | text | bytes]: a subclass of Array/String/ByteArray
TAG_PROCESS = 51011         # [node name, creation, number]: a process reference (node layer only)
TAG_NODE = 51012            # [node name, creation]: a Node (node layer only)

TAGS = {
    TAG_BIGNUM: "unsigned bignum (RFC 8949)", TAG_NEG_BIGNUM: "negative bignum (RFC 8949)",
    TAG_SHAREABLE: "shareable value", TAG_SHAREDREF: "shared reference",
    TAG_SYMBOL: "Symbol", TAG_CHARACTER: "Character", TAG_OBJECT: "object by value",
    TAG_REMOTE_REF: "remote reference [node, creation, handle, class, handoff]", TAG_EXCEPTION: "exception",
    TAG_METHOD_SOURCE: "method source", TAG_VECTOR: "Vector", TAG_SET: "Set",
    TAG_CLASS: "class by name", TAG_INDEXED: "instance of a subclass of Array, String or ByteArray",
    TAG_PROCESS: "process reference", TAG_NODE: "node",
}

CLASS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
HANDLE_BYTES = 16           # a reference's handle: 128 random bits

DEFAULT_MAX_DEPTH = 256
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# VM_WIRE_C=0 leaves the C accelerators (node/wire_c_*.c) out even where they are built:
# the Python paths then do every message (for measuring them, or ruling the C out).
C_ACCELERATORS_WANTED = os.environ.get("VM_WIRE_C", "1") != "0"


class WireError(Exception):
    """A value that cannot be sent, or bytes that are not a valid message."""


class MissingClass(WireError):
    """A message names a class this VM does not have (``class_name``): the node layer
    may fetch it from the sender and decode the message again."""

    def __init__(self, class_name: str) -> None:
        super().__init__(f"this VM has no class {class_name}")
        self.class_name = class_name


class NodeRefs(Protocol):
    """What the node layer gives the codec so that processes, Nodes and references to
    objects can travel: their identities on the way out, the VM objects on the way
    in. Without it the encoder refuses processes and proxies (and sends a Node, or an
    object whose class passes by reference, as an ordinary object) and the decoder
    refuses the three tags."""

    node_class: Any

    def process_identity(self, proc: Any) -> tuple[str, int, int]: ...

    def node_identity(self, node: Any) -> tuple[str, int]: ...

    def process(self, node: str, creation: int, number: int) -> Any: ...

    def node(self, name: str, creation: int) -> Any: ...

    def by_reference(self, value: Any) -> bool:
        """Whether a heap object travels as a reference (a proxy, ``asRemote``'s
        wrapper, an instance of a class that passes by reference)."""

    def reference(self, value: Any) -> tuple[str, int, bytes, str, int]:
        """(node, creation, handle, class name, handoff) of such an object, for this
        message (exporting it if need be)."""

    def remote_object(self, node: str, creation: int, handle: bytes, class_name: str, handoff: int) -> Any:
        """The VM value of a reference: the object itself on its home node, else a
        proxy."""


def field_values(vm: Any, obj: Instance) -> dict[str, Any]:
    return dict(zip(vm.all_field_names(obj.cls), obj.fields))


def field_value(vm: Any, obj: Instance, name: str) -> Any:
    return obj.fields[vm.field_index(obj.cls, name)]

