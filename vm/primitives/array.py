"""Primitives of Array and ByteArray: indexed access (1-based) and allocation."""
from __future__ import annotations

from smalltalk_vm.vm import numtext
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.limits import check_elements
from smalltalk_vm.vm.objects import KIND_ARRAY_AT, KIND_ARRAY_AT_PUT, VArray, VBytes, VClass, VString
from smalltalk_vm.vm.primitives.registry import primitive


def check_index(vm, index, size: int) -> int:
    """The 0-based position of a 1-based Smalltalk index, or SubscriptOutOfBounds."""
    if type(index) is int and V.INT_LO <= index < V.INT_HI:
        i = index - V.ZERO
    else:
        i = vm.int_of(index)
    if 1 <= i <= size:
        return i - 1
    raise vm.signal("SubscriptOutOfBounds", f"Index {numtext.brief(i)} out of bounds for a collection of size {size}",
                    index=index)


def _items(rcv) -> list:
    if type(rcv) is not VArray:
        raise PrimitiveFailed("receiver is not an Array")
    return rcv.items


@primitive("Array", "at:")
def array_at(vm, rcv, index):
    items = _items(rcv)
    return items[check_index(vm, index, len(items))]


@primitive("Array", "at:put:")
def array_at_put(vm, rcv, index, val):
    items = _items(rcv)
    items[check_index(vm, index, len(items))] = val
    return val


# The interpreter runs these inline for in-range SmallInteger indices (see vm.quicken).
array_at.inline_kind = KIND_ARRAY_AT
array_at_put.inline_kind = KIND_ARRAY_AT_PUT


@primitive("Array", "length")
def array_length(vm, rcv):
    return vm.make_int(len(_items(rcv)))


@primitive("Array", "size")
def array_size(vm, rcv):
    return vm.make_int(len(_items(rcv)))



def _new_size(vm, size) -> int:
    n = vm.int_of(size)
    if n < 0:
        raise PrimitiveFailed("negative size")
    return check_elements(n, "new:")


@primitive("Array class", "new:")
def array_new(vm, rcv, size):
    if type(rcv) is not VClass:
        raise PrimitiveFailed("receiver is not a class")
    return VArray(rcv, [V.NIL] * _new_size(vm, size))


@primitive("Array class", "new:withAll:")
def array_new_with_all(vm, rcv, size, val):
    """Fill with ``val`` when its `value` is itself (numbers, booleans, nil, characters,
    strings); anything else (a block) fails over to the library's loop, which sends
    `value` for each element."""
    if type(val) not in (int, float, VString):
        raise PrimitiveFailed("the library evaluates `value` for each element")
    return VArray(rcv, [val] * _new_size(vm, size))


@primitive("Array", "copyFrom:to:")
def array_copy_from_to(vm, rcv, start, stop):
    items = _items(rcv)
    first = vm.int_of(start)
    last = vm.int_of(stop)
    if last < first:
        return VArray(rcv.cls, [])
    check_index(vm, start, len(items))
    check_index(vm, stop, len(items))
    return VArray(rcv.cls, items[first - 1:last])


@primitive("Array", "replaceFrom:to:with:startingAt:")
def array_replace(vm, rcv, start, stop, source, source_start):
    items = _items(rcv)
    first = vm.int_of(start)
    last = vm.int_of(stop)
    if last < first:
        return rcv
    src = _items(source)
    offset = vm.int_of(source_start)
    check_index(vm, start, len(items))
    check_index(vm, stop, len(items))
    check_index(vm, source_start, len(src))
    check_index(vm, vm.make_int(offset + last - first), len(src))
    items[first - 1:last] = src[offset - 1:offset - 1 + last - first + 1]
    return rcv


# ---------------------------------------------------------------- ByteArray

def _data(rcv) -> bytearray:
    if type(rcv) is not VBytes:
        raise PrimitiveFailed("receiver is not a ByteArray")
    return rcv.data


@primitive("ByteArray class", "new:")
def bytes_new(vm, rcv, size):
    return VBytes(rcv, bytearray(_new_size(vm, size)))


@primitive("ByteArray", "at:")
def bytes_at(vm, rcv, index):
    data = _data(rcv)
    return vm.make_int(data[check_index(vm, index, len(data))])


@primitive("ByteArray", "at:put:")
def bytes_at_put(vm, rcv, index, val):
    data = _data(rcv)
    byte = vm.int_of(val)
    if not 0 <= byte <= 255:
        raise PrimitiveFailed("a byte is 0..255")
    data[check_index(vm, index, len(data))] = byte
    return val


@primitive("ByteArray", "size")
def bytes_size(vm, rcv):
    return vm.make_int(len(_data(rcv)))


@primitive("ByteArray", "asHexString")
def bytes_hex(vm, rcv):
    return vm.new_string(_data(rcv).hex())


@primitive("ByteArray class", "fromHex:")
def bytes_from_hex(vm, rcv, text):
    try:
        return VBytes(rcv, bytearray.fromhex(vm.str_of(text)))
    except ValueError:
        raise PrimitiveFailed("not a hex string") from None
