"""CBOR wire values: every transmissible VM value to bytes and back.

One table of tags (``TAGS``; documented in docs/wire.md). Plain data — numbers,
strings, arrays, dictionaries, nil and booleans — is ordinary CBOR any library reads
as the obvious value. Shared and cyclic structure within one message uses the
standard value-sharing tags 28/29, emitted only for objects met more than once.

Encoding and decoding are iterative (no recursion on the data's depth), and the
decoder enforces depth and size limits, rejects unknown tags, malformed and
indefinite-length items with ``WireError`` — the only exception it raises.

This module is the API; the writer is ``node.wire_encoder``, the reader
``node.wire_decoder``, the shared vocabulary ``node.wire_tags``: they define the
format. Faster paths are tried first, each giving up to the next for whatever it does
not handle identically: the C accelerators (``node.wire_c_encoding`` and
``node.wire_c_decoding``, optional extensions built where a C compiler is), then
``node.wire_fast_encoder`` (a one-pass writer) and ``node.wire_fast_decoder`` (cbor2's
C decoder and a conversion pass; cbor2 alone cannot resolve a shared reference that
points into a tagged item still being decoded, which cyclic objects need). All are
leaf modules: they import only the VM's value and object modules.
"""
from __future__ import annotations

import struct
from typing import Any

from smalltalk_vm.node import wire_c_decoding, wire_c_encoding, wire_fast_decoder, wire_fast_encoder
from smalltalk_vm.node.wire_decoder import Decoder
from smalltalk_vm.node.wire_encoder import Encoder
from smalltalk_vm.node.wire_tags import (  # noqa: F401  (the public vocabulary, re-exported)
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
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
)


def encode(vm: Any, value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH,
           node_refs: NodeRefs | None = None) -> bytes:
    """The CBOR bytes of a VM value. Raises WireError — and nothing else — for what
    cannot be sent (including objects whose internals are not what their class
    expects). With ``node_refs`` (the node layer's), processes, Nodes and objects that
    pass by reference travel as references."""
    data = wire_c_encoding.encode(vm, value, max_depth, node_refs)
    if data is wire_fast_encoder.NOT_DONE:
        data = wire_fast_encoder.encode(vm, value, max_depth, node_refs)
    if data is not wire_fast_encoder.NOT_DONE:
        return data
    try:
        return Encoder(vm, max_depth, node_refs).encode(value)
    except WireError:
        raise
    except Exception as error:
        raise WireError(f"cannot encode the value: {type(error).__name__}: {error}") from None


def decode(vm: Any, data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH,
           max_bytes: int = DEFAULT_MAX_BYTES, node_refs: NodeRefs | None = None) -> Any:
    """The VM value of a message. Raises WireError — and nothing else — for bytes that
    are malformed, too big or too deep, use unknown tags, or name classes this VM lacks
    (``MissingClass``, which names it)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError("a message is bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise WireError(f"the message is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data:
        raise WireError("an empty message")
    value = wire_c_decoding.decode(vm, data, max_depth, node_refs)
    if value is wire_fast_decoder.NOT_DONE:
        value = wire_fast_decoder.decode(vm, data, max_depth, node_refs)
    if value is not wire_fast_decoder.NOT_DONE:
        return value
    try:
        return Decoder(vm, data, max_depth, node_refs).decode()
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError, RecursionError, IndexError,
            KeyError, AttributeError, struct.error) as error:
        raise WireError(f"malformed message ({type(error).__name__}: {error})") from None
