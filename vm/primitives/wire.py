"""Primitives of Wire: CBOR encoding and decoding of VM values. The codec itself lives
in the node layer (node/wire.py); the composition root hands it to the universe as
``wire_codec`` (an object with ``encode(vm, value)`` and ``decode(vm, data)``), since
the VM must not import the node layer."""
from __future__ import annotations

from smalltalk_vm.vm.objects import VBytes
from smalltalk_vm.vm.primitives.registry import primitive


def _codec(vm):
    codec = vm.wire_codec
    if codec is None:
        raise vm.signal("WireError", "this VM has no wire codec")
    return codec


@primitive("Wire class", "encode:")
def wire_encode(vm, rcv, value):
    codec = _codec(vm)
    try:
        return vm.new_bytes(codec.encode(vm, value))
    except codec.WireError as error:
        raise vm.signal("WireError", str(error)) from None


@primitive("Wire class", "decode:")
def wire_decode(vm, rcv, data):
    codec = _codec(vm)
    if type(data) is not VBytes:
        raise vm.signal("WireError", "Wire decode: needs a ByteArray")
    try:
        return codec.decode(vm, bytes(data.data))
    except codec.WireError as error:
        raise vm.signal("WireError", str(error)) from None
