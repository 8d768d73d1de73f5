"""Primitives that shorten the hosted handler search (lib/Exception.som,
lib/Object.som): ``Object>>isKindOf:``, ``Exception class>>handles:`` and
``Exception>>handlerContextFrom:``. Each keeps a Smalltalk body as its fallback and
answers exactly what that body — or, for ``handlerContextFrom:``, the search loop of
``searchFrom:`` — would:

- only while the methods those bodies send are the library's: decided once per
  receiver class (for ``isKindOf:``) or once for Context, and kept until the
  universe's ``lookup_epoch`` changes (any method or class defined anywhere);
- ``handlerContextFrom:`` only when every ``handles:`` it meets answers without
  running Smalltalk code (``vm.trivial``). An ExceptionSet, a user's own ``handles:``,
  or an exception selector that is not an exception class (nil, 3) makes it answer
  the exception itself — "cannot tell" — and ``searchFrom:`` walks the handlers in
  Smalltalk, where a signal from inside ``handles:`` is looked up below the on:do:
  being asked, as the search's frames say.

This module reads contexts and classes; it runs no Smalltalk code and changes no
context, field or class.
"""
from __future__ import annotations

import weakref
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import KIND_CONSTANT, KIND_IDENTICAL, Context, VClass, is_primitive
from smalltalk_vm.vm.primitives.context import context_find_handler, context_sender, context_temp_at
from smalltalk_vm.vm.primitives.klass import class_superclass
from smalltalk_vm.vm.primitives.object import object_class, object_identical
from smalltalk_vm.vm.primitives.registry import primitive
from smalltalk_vm.vm.trivial import NOT_TRIVIAL, trivial_send

_FAILED = PrimitiveFailed("the Smalltalk body does it")


class _Verdicts:
    """Per universe: which receiver classes ``isKindOf:`` may answer for, and whether
    Context has the library's methods the search sends. Used on the universe's VM
    thread only; never blocks, raises nothing."""

    def __init__(self, vm: Any) -> None:
        self.vm = vm
        self.epoch: Any = None
        self.kinds: dict[Any, bool] = {}
        self.context_ok = False

    def current(self) -> _Verdicts:
        if self.epoch is not self.vm.lookup_epoch:
            vm = self.vm
            self.epoch = vm.lookup_epoch
            self.kinds.clear()
            context = vm.Context
            self.context_ok = all(is_primitive(vm.lookup(context, selector), function) for selector, function in (
                ("tempAt:", context_temp_at), ("findHandlerContext", context_find_handler),
                ("sender", context_sender))) and _answers(vm, context, "isNil", V.FALSE) \
                and _answers(vm, vm.Nil, "isNil", V.TRUE)
        return self

    def kind_of_answers(self, cls: Any) -> bool:
        """Whether isKindOf:'s body, run by an instance of ``cls``, sends only the
        library's ``class``, and ``isNil``, ``==`` and ``superclass`` to each class
        of the chain (and ``isNil`` to the nil that ends it)."""
        known = self.kinds.get(cls)
        if known is None:
            vm = self.vm
            known = is_primitive(vm.lookup(cls, "class"), object_class) and _answers(vm, vm.Nil, "isNil", V.TRUE)
            c = cls
            while known and c is not None:
                meta = vm.class_of(c)
                identical = vm.lookup(meta, "==")
                known = _answers(vm, meta, "isNil", V.FALSE) \
                    and is_primitive(vm.lookup(meta, "superclass"), class_superclass) \
                    and identical is not None \
                    and (identical.kind == KIND_IDENTICAL or is_primitive(identical, object_identical))
                c = c.superclass
            self.kinds[cls] = known
        return known


def _answers(vm: Any, cls: Any, selector: str, constant: Any) -> bool:
    method = vm.lookup(cls, selector)
    return method is not None and method.kind == KIND_CONSTANT and method.trivial == constant


_VERDICTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# the universe asked last and its verdicts, as one tuple: universes on other threads
# replace it whole, so a reader never sees one universe with another's verdicts
_last: tuple = (None, None)


def _verdicts(vm: Any) -> _Verdicts:
    global _last
    last = _last
    if last[0] is vm:
        return last[1].current()
    found = _VERDICTS.get(vm)
    if found is None:
        found = _VERDICTS[vm] = _Verdicts(vm)
    _last = (vm, found)
    return found.current()


@primitive("Object", "isKindOf:")
def object_is_kind_of(vm, rcv, a_class):
    cls = vm.class_of(rcv)
    if not _verdicts(vm).kind_of_answers(cls):
        raise _FAILED
    c = cls
    while c is not None:
        if c is a_class:
            return V.TRUE
        c = c.superclass
    return V.FALSE


@primitive("Exception class", "handles:")
def exception_class_handles(vm, rcv, exception):
    method = vm.lookup(vm.class_of(exception), "isKindOf:")
    if not is_primitive(method, object_is_kind_of) or type(rcv) is not VClass:
        raise _FAILED
    return object_is_kind_of(vm, exception, rcv)


@primitive("Exception", "handlerContextFrom:")
def exception_handler_context_from(vm, rcv, start):
    """The on:do: activation, from ``start`` down, whose exception selector handles
    the receiver; nil when none does; the receiver when a ``handles:`` would run
    Smalltalk code (the body's answer: searchFrom: then asks them one by one)."""
    if start == V.NIL:
        return V.NIL
    if not isinstance(start, Context) or not _verdicts(vm).context_ok:
        return rcv
    candidate = context_find_handler(vm, start)
    while candidate != V.NIL:
        if not candidate.method.temp_names or not candidate.stack:
            return rcv                          # tempAt: 1 is the body's error to raise
        answer = trivial_send(vm, candidate.stack[0], "handles:", (rcv,))
        if answer == V.TRUE:
            return candidate
        if answer is NOT_TRIVIAL or answer != V.FALSE:
            return rcv                          # runs code, or is not a Boolean: the body asks
        sender = candidate.sender
        if sender is None:
            return V.NIL
        candidate = context_find_handler(vm, sender)
    return V.NIL
