"""Sends a primitive may make on its own, because answering them runs no Smalltalk
code: what a library method's body would get from ``key hashcode`` or ``a = b`` when
the methods found are constants, getters, identity, forwarding methods or plain
primitives — and the check that a set of methods still has the shape a primitive
relies on.

The rules:

- ``trivial_send`` follows only those kinds; anything else (a method with a body, a
  control primitive, a primitive that fails) answers ``NOT_TRIVIAL``, and the
  primitive asking must fail so that the Smalltalk body runs and does it for real.
- ``has_shape`` says whether a lookup finds a method of a given shape; whoever relies
  on it keeps the verdict only while the lookup tokens of the classes it asked about
  stay the same.

This module reads classes and calls plain primitives; it never runs the interpreter.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import KIND_CONSTANT, KIND_FORWARD, KIND_GETTER, KIND_IDENTICAL, KIND_PRIMITIVE
from smalltalk_vm.vm.primitives.object import identical

NOT_TRIVIAL = object()
_FORWARDS = 8


def trivial_send(vm: Any, receiver: Any, selector: str, args: tuple) -> Any:
    """The answer of the send, or NOT_TRIVIAL."""
    for _ in range(_FORWARDS):
        method = vm.lookup(vm.class_of(receiver), selector)
        if method is None:
            return NOT_TRIVIAL
        kind = method.kind
        if kind == KIND_FORWARD:
            selector, new_receiver, picks, _ = method.trivial
            if picks is not None:
                values = (receiver, *args)
                receiver = values[new_receiver]
                args = tuple(values[p] for p in picks)
            continue
        if kind == KIND_CONSTANT:
            return receiver if method.trivial is None else method.trivial
        if kind == KIND_IDENTICAL:
            return V.TRUE if identical(receiver, args[0]) else V.FALSE
        if kind == KIND_GETTER:
            fields = getattr(receiver, "fields", None)
            return fields[method.trivial] if fields is not None and method.trivial < len(fields) else NOT_TRIVIAL
        if kind == KIND_PRIMITIVE:
            try:
                return method.primitive(vm, receiver, *args)
            except Exception:
                return NOT_TRIVIAL
        return NOT_TRIVIAL
    return NOT_TRIVIAL


# A shape a method must have: a kind and, for a constant, its value (None: self), for a
# primitive, its function.
Shape = tuple[int, Any]


def has_shape(vm: Any, cls: Any, selector: str, shape: Shape) -> bool:
    """Whether ``cls`` finds a method of that shape for ``selector``."""
    method = vm.lookup(cls, selector)
    if method is None:
        return False
    kind, detail = shape
    if method.kind != kind:
        return False
    if kind == KIND_CONSTANT:
        return method.trivial is None if detail is None else method.trivial == detail
    if kind == KIND_PRIMITIVE:
        return method.primitive is detail
    return True
