"""The wire's vocabulary, shared by its encoder and decoder: the table of CBOR tags for
VM values, the limits, and WireError. A leaf module: it imports only the VM's value
and object modules."""
from __future__ import annotations

import re
from typing import Any

from smalltalk_vm.vm.objects import Instance

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

CLASS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

DEFAULT_MAX_DEPTH = 256
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class WireError(Exception):
    """A value that cannot be sent, or bytes that are not a valid message."""


def field_values(vm: Any, obj: Instance) -> dict[str, Any]:
    return dict(zip(vm.all_field_names(obj.cls), obj.fields))


def field_value(vm: Any, obj: Instance, name: str) -> Any:
    return obj.fields[vm.field_index(obj.cls, name)]


def is_kind_of(cls: Any, ancestor: Any) -> bool:
    while cls is not None:
        if cls is ancestor:
            return True
        cls = cls.superclass
    return False
