"""Primitives of Object: identity, class, hashing, reflection on fields, perform:."""
from __future__ import annotations

import struct
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import KIND_IDENTICAL, Instance, LargeInt, VArray, VBytes, VClass, VString, inherits
from smalltalk_vm.vm.primitives.array import check_index
from smalltalk_vm.vm.primitives.registry import control, primitive


def identical(a: Any, b: Any) -> bool:
    """Smalltalk ``==``: immediates and Doubles compare by their word, heap objects by
    reference."""
    if a is b:
        return True
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is int:
        return a == b
    if ta is float:
        return struct.pack("<d", a) == struct.pack("<d", b) or (a != a and b != b)
    if ta is LargeInt:
        return a.n == b.n          # an Integer's representation is invisible: same value, same object
    return False


def string_hash(text: str) -> int:
    """A content hash that is the same in every process (Python's str hash is salted,
    and hashed collections must survive images): 30-bit FNV-1a over code points."""
    h = 0x811C9DC5
    for ch in text:
        h = ((h ^ ord(ch)) * 0x01000193) & 0xFFFFFFFF
    return h & 0x3FFFFFFF


def hash_of(vm: Any, value: Any) -> int:
    """The Python int ``hashcode`` answers for any value (consistent with ``=`` for the
    kernel's value classes)."""
    kind = type(value)
    if kind is int:
        if V.INT_LO <= value < V.INT_HI:
            return value - V.ZERO     # SOM: an Integer's hash is itself
        if V.is_symbol(value):
            return string_hash(vm.symbol_name(value))
        return value & 0x3FFFFFFF
    if kind is float:
        if value.is_integer():
            return int(value)         # equal to the Integer it equals
        return hash(value) & 0x3FFFFFFF
    if kind is VString:
        if not value.h:
            value.h = string_hash(value.chars) or 1
        return value.h
    if kind is LargeInt:
        return value.n
    return identity_hash(vm, value)


def identity_hash(vm: Any, value: Any) -> int:
    if type(value) in (int, float):
        return hash_of(vm, value)
    try:
        h = value.ihash
    except AttributeError:
        return (id(value) >> 4) & 0x3FFFFFFF    # contexts and processes-in-flight: not kept in images
    if not h:
        h = value.ihash = vm.next_ihash()
    return h


@primitive("Object", "class")
def object_class(vm, rcv):
    return vm.class_of(rcv)


@primitive("Object", "==")
def object_identical(vm, rcv, other):
    return V.TRUE if identical(rcv, other) else V.FALSE


object_identical.inline_kind = KIND_IDENTICAL    # the interpreter and native code inline it


@primitive("Object", "hashcode")
def object_hashcode(vm, rcv):
    return vm.make_int(hash_of(vm, rcv))


@primitive("Object", "identityHash")
def object_identity_hash(vm, rcv):
    return vm.make_int(identity_hash(vm, rcv))


@primitive("Object", "objectSize")
def object_size(vm, rcv):
    """Slots of the object plus one for its header, as in SOM."""
    kind = type(rcv)
    if kind is Instance:
        return vm.make_int(len(rcv.fields) + 1)
    if kind is VArray:
        return vm.make_int(len(rcv.items) + 1)
    if kind is VString:
        return vm.make_int(len(rcv.chars) + 1)
    if kind is VBytes:
        return vm.make_int(len(rcv.data) + 1)
    if kind is VClass:
        return vm.make_int(len(rcv.fields) + 1)
    return vm.make_int(1)


def _fields_of(rcv: Any) -> list:
    fields = getattr(rcv, "fields", None)
    if fields is None:
        raise PrimitiveFailed("this object has no instance variables")
    return fields


@primitive("Object", "instVarAt:")
def object_inst_var_at(vm, rcv, index):
    fields = _fields_of(rcv)
    return fields[check_index(vm, index, len(fields))]


@primitive("Object", "instVarAt:put:")
def object_inst_var_at_put(vm, rcv, index, val):
    fields = _fields_of(rcv)
    fields[check_index(vm, index, len(fields))] = val
    return val


def _field_slot(vm: Any, rcv: Any, name: Any) -> int:
    wanted = vm.str_of(name)
    names = vm.all_field_names(vm.class_of(rcv))
    if wanted not in names:
        raise PrimitiveFailed(f"no instance variable named {wanted}")
    return names.index(wanted)


@primitive("Object", "instVarNamed:")
def object_inst_var_named(vm, rcv, name):
    return _fields_of(rcv)[_field_slot(vm, rcv, name)]


@primitive("Object", "instVarNamed:put:")
def object_inst_var_named_put(vm, rcv, name, val):
    _fields_of(rcv)[_field_slot(vm, rcv, name)] = val
    return val


@primitive("Object", "shallowCopy")
def object_shallow_copy(vm, rcv):
    kind = type(rcv)
    if kind is Instance:
        return Instance(rcv.cls, list(rcv.fields))
    if kind is VArray:
        return VArray(rcv.cls, list(rcv.items))
    if kind is VBytes:
        return VBytes(rcv.cls, bytearray(rcv.data))
    if kind is VString:
        return VString(rcv.cls, rcv.chars)
    return rcv


# ---------------------------------------------------------------- perform

def _selector(vm: Any, sym: Any) -> str:
    return vm.str_of(sym)


def _check_arity(interp: Any, ctx: Any, selector: str, argc: int) -> Any:
    expected = selector_arity(selector)
    if expected != argc:
        return interp.signal_exception(
            ctx, "Error", f"#{selector} expects {expected} argument(s), {argc} given")
    return None


def selector_arity(selector: str) -> int:
    if selector[0].isalpha() or selector[0] == "_":
        return selector.count(":")
    return 1



def _perform(interp: Any, ctx: Any, argc: int, start_class: Any = None) -> Any:
    """``perform:`` family: the selector sits below ``argc - 1`` arguments. With a
    ``start_class`` (perform:inSuperclass:), the lookup starts there; it must be in
    the receiver's own chain, or the method would run on an object without its shape."""
    vm = interp.vm
    stack = ctx.stack
    args = stack[len(stack) - (argc - 1):] if argc > 1 else []
    sym = stack[-argc]
    del stack[-argc:]
    try:
        selector = _selector(vm, sym)
    except PrimitiveFailed:
        return interp.signal_exception(ctx, "Error", "perform: needs a Symbol")
    receiver = stack.pop()
    if not selector:
        return interp.signal_exception(ctx, "Error", "perform: needs a selector, not the empty Symbol")
    failure = _check_arity(interp, ctx, selector, len(args))
    if failure is not None:
        return failure
    if start_class is None:
        return interp.push_and_send(ctx, receiver, selector, args)
    receiver_class = vm.class_of(receiver)
    if not inherits(receiver_class, start_class):
        return interp.signal_exception(
            ctx, "Error", f"perform:inSuperclass: {start_class.name} is not in the inheritance chain "
                          f"of {receiver_class.name}")
    method = vm.lookup(start_class, selector)
    stack.append(receiver)
    stack.extend(args)
    if method is None:
        return interp.dnu(ctx, receiver, selector, len(args))
    return interp.activate(ctx, method, len(args))


@control("Object", "perform:")
def object_perform(interp, ctx, argc):
    return _perform(interp, ctx, 1)


@control("Object", "perform:with:")
def object_perform_with(interp, ctx, argc):
    return _perform(interp, ctx, 2)


@control("Object", "perform:with:with:")
def object_perform_with_with(interp, ctx, argc):
    return _perform(interp, ctx, 3)


@control("Object", "perform:with:with:with:")
def object_perform_with3(interp, ctx, argc):
    return _perform(interp, ctx, 4)


def _spread_arguments(interp: Any, ctx: Any) -> bool:
    """Replace the Array on top of the stack by its elements; False if not an Array."""
    stack = ctx.stack
    array = stack[-1]
    if type(array) is not VArray:
        return False
    stack[-1:] = array.items
    return True


@control("Object", "perform:withArguments:")
def object_perform_with_arguments(interp, ctx, argc):
    stack = ctx.stack
    count = len(stack[-1].items) if type(stack[-1]) is VArray else -1
    if count < 0:
        del stack[-3:]
        return interp.signal_exception(ctx, "Error", "perform:withArguments: needs an Array")
    _spread_arguments(interp, ctx)
    return _perform(interp, ctx, count + 1)


@control("Object", "perform:inSuperclass:")
def object_perform_in_superclass(interp, ctx, argc):
    cls = ctx.stack.pop()
    if type(cls) is not VClass:
        del ctx.stack[-2:]
        return interp.signal_exception(ctx, "Error", "perform:inSuperclass: needs a Class")
    return _perform(interp, ctx, 1, cls)


@control("Object", "perform:withArguments:inSuperclass:")
def object_perform_with_arguments_in_superclass(interp, ctx, argc):
    stack = ctx.stack
    cls = stack.pop()
    if type(cls) is not VClass or type(stack[-1]) is not VArray:
        del stack[-3:]
        return interp.signal_exception(ctx, "Error", "perform:withArguments:inSuperclass: needs an Array and a Class")
    count = len(stack[-1].items)
    _spread_arguments(interp, ctx)
    return _perform(interp, ctx, count + 1, cls)
