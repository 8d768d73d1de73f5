"""What the second tier's generated code calls at run time: the bail-out protocol of
direct calls, and the sends it does not spell out inline.

The rules:

- A *direct* function (``unit.direct``, see ``vm.native``) runs an activation that has
  no Context yet. It answers the activation's value, or ``BAIL``. ``BAIL`` means: the
  activation could not finish as a Python call (a yield, a hand-back to the
  interpreter, a fault, a send that needs a context); it now exists as a Context
  (``interp.bail_bottom`` is the outermost one made so far, whose ``sender`` is not
  set yet) and ``interp.bail_top`` is the context to continue in.
- Every caller that gets ``BAIL`` makes its own activation a Context, standing after
  the send, links it as the sender of ``bail_bottom`` and passes ``BAIL`` on — so the
  chain of contexts is complete and exact before anything else looks at it. The
  first caller that already had a context (a resumable function the trampoline
  entered) links it and answers ``finish_bail`` to the trampoline.
- ``interp.bail_how`` says how to continue: ``RESUME`` (the trampoline may enter
  native code again: a yield), ``INTERPRET`` (interpret ``bail_top``'s next
  instruction: native code does not do it), or an action ``(interp, ctx) -> next
  context`` run once the chain is linked (a failed primitive, a fault).
- ``perform`` makes a send with no context of the sender's: it answers the value,
  ``BAIL`` — a direct callee bailed, or a primitive raised (then ``interp.failure``
  holds the method, receiver, arguments and error, and the caller's context gets
  them back on its stack for ``primitive_error``) — or ``SLOW``: nothing happened,
  the send needs the interpreter, which must make it from the start.

This module never generates code and never runs the interpreter loop.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_CONSTANT,
    KIND_FORWARD,
    KIND_GETTER,
    KIND_IDENTICAL,
    KIND_NATIVE,
    KIND_PRIMITIVE,
    KIND_SETTER,
    Closure,
    VArray,
)
from smalltalk_vm.vm.primitives.object import identical


class _Signal:
    """A sentinel answer of generated code; never a Smalltalk value."""
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


BAIL = _Signal("BAIL")
SLOW = _Signal("SLOW")
RESUME = _Signal("RESUME")
INTERPRET = _Signal("INTERPRET")
DEOPT = _Signal("DEOPT")     # answered to the trampoline: interpret ``interp.deopted`` now

MAX_DEPTH = 64          # direct calls one trampoline entry may nest (Python frames)
MAX_FORWARDS = 8        # forwarding methods followed by one send
NATIVE_CALLER_HEAT = 100 # the heat a call from native code counts for an uncompiled callee


# ------------------------------------------------------------------ contexts

def method_context(vm: Any, method: Any, receiver: Any, stack: list, pc: int) -> Any:
    """A method activation made from a direct function's state; no sender yet."""
    kind = vm.method_context_class
    ctx = kind.__new__(kind)
    ctx.method = method
    ctx.stack = stack
    ctx.receiver = receiver
    ctx.sender = None
    ctx.pc = pc
    return ctx


def block_context(vm: Any, closure: Closure, stack: list, pc: int) -> Any:
    kind = vm.block_context_class
    ctx = kind.__new__(kind)
    ctx.method = closure.code
    ctx.stack = stack
    ctx.receiver = closure.receiver
    ctx.sender = None
    outer = ctx.outer = closure.outer
    ctx.closure = closure
    ctx.home = outer.home
    ctx.pc = pc
    return ctx


# ------------------------------------------------------------------ bailing out

def bail(interp: Any, ctx: Any, how: Any) -> _Signal:
    """``ctx`` (just made, or a direct function's own) is where execution goes on."""
    interp.bail_top = interp.bail_bottom = ctx
    interp.bail_how = how
    return BAIL


def link(interp: Any, ctx: Any) -> _Signal:
    """A direct callee bailed; ``ctx`` is the caller's activation, after the send."""
    interp.bail_bottom.sender = ctx
    interp.bail_bottom = ctx
    return BAIL


def after_send_method(interp: Any, method: Any, receiver: Any, stack: list, pc: int) -> _Signal:
    """``after_send`` of a method activation made here from a direct function's state
    (one runtime call per linked frame from the native code). The link is spelled out
    here rather than left to ``after_send``: a bail-out of a deep chain (every
    signal, every ``thisContext``) makes one of these per frame."""
    ctx = method_context(interp.vm, method, receiver, stack, pc)
    if interp.failure is None:
        interp.bail_bottom.sender = ctx
        interp.bail_bottom = ctx
        return BAIL
    return after_send(interp, ctx)


def after_send_block(interp: Any, closure: Closure, stack: list, pc: int) -> _Signal:
    """``after_send`` of a block activation made here (see ``after_send_method``)."""
    ctx = block_context(interp.vm, closure, stack, pc)
    if interp.failure is None:
        interp.bail_bottom.sender = ctx
        interp.bail_bottom = ctx
        return BAIL
    return after_send(interp, ctx)


def after_send_context(interp: Any, ctx: Any, pc: int, values: list) -> _Signal:
    """``after_send`` of a direct function's own context (made on entry), standing at
    ``pc`` with ``values`` pushed."""
    if values:
        ctx.stack.extend(values)
    ctx.pc = pc
    if interp.failure is None:
        interp.bail_bottom.sender = ctx
        interp.bail_bottom = ctx
        return BAIL
    return after_send(interp, ctx)


def after_send(interp: Any, ctx: Any) -> _Signal:
    """The send ``ctx`` stands after answered ``BAIL``: a callee bailed (link), or a
    primitive failed (its receiver and arguments go back on the stack, and
    ``primitive_error`` decides once the chain is linked)."""
    failure = interp.failure
    if failure is None:
        return link(interp, ctx)
    interp.failure = None
    method, receiver, args, error = failure
    ctx.stack.append(receiver)
    ctx.stack.extend(args)
    return bail(interp, ctx, lambda i, c: i.primitive_error(c, method, len(args), error))


def fault(interp: Any, ctx: Any, error: BaseException) -> _Signal:
    """A Python exception in a direct function: its activation is cut (vm.faults)."""
    interp.failure = None
    return bail(interp, ctx, lambda i, c: i.native_fault(c, error))


def finish_bail(interp: Any) -> Any:
    """For the trampoline: the context to go on with, or DEOPT (interpret
    ``interp.deopted``), or None (the process left)."""
    top = interp.bail_top
    how = interp.bail_how
    interp.bail_top = interp.bail_bottom = interp.bail_how = None
    if how is RESUME:
        return top
    if how is INTERPRET:
        interp.deopted = top
        return DEOPT
    return how(interp, top)


def resume_after_send(interp: Any, ctx: Any) -> Any:
    """For a resumable function (it has a context, linked): a send it made answered
    ``BAIL``; ``ctx`` stands after the send. The next context for the trampoline."""
    failure = interp.failure
    if failure is None:
        interp.bail_bottom.sender = ctx
        return finish_bail(interp)
    interp.failure = None
    method, receiver, args, error = failure
    ctx.stack.append(receiver)
    ctx.stack.extend(args)
    return interp.primitive_error(ctx, method, len(args), error)


# ------------------------------------------------------------------ sends

def resolve(vm: Any, site: Any, cls: Any) -> Any:
    """The method a send site finds for ``cls`` after an inline-cache miss: the
    class's method cache first (a site meeting several classes costs a dictionary
    probe), then a lookup. The site remembers the last class."""
    method = cls.lookup_cache.get(site.selector, _ABSENT)
    if method is _ABSENT:
        method = vm.lookup(cls, site.selector)
    if method is not None:
        site.fill(cls.token, method)
    return method


_ABSENT = object()


def perform(interp: Any, method: Any, receiver: Any, args: tuple, depth: int) -> Any:
    """Send ``method`` (already looked up for the receiver) without a context of the
    sender's: the value, BAIL or SLOW (see the module's rules)."""
    vm = interp.vm
    kind = method.kind
    forwards = 0
    while kind == KIND_FORWARD:
        forwards += 1
        if forwards > MAX_FORWARDS:
            return SLOW
        selector, new_receiver, picks, cache = method.trivial
        if picks is not None:
            values = (receiver, *args)
            receiver = values[new_receiver]
            args = tuple([values[p] for p in picks])
        cls = vm.class_of(receiver)
        if cache[0] is cls.token:
            method = cache[1]
        else:
            method = cls.lookup_cache.get(selector, _ABSENT)
            if method is _ABSENT:
                method = vm.lookup(cls, selector)
            if method is None:
                return SLOW
            cache[0] = cls.token
            cache[1] = method
        kind = method.kind
    if kind == KIND_PRIMITIVE:
        try:
            return method.primitive(vm, receiver, *args)
        except Exception as error:
            return primitive_failed(interp, method, receiver, args, error, depth)
    if kind == KIND_NATIVE or kind == KIND_BYTECODE:
        function = method.direct
        if function is None and kind == KIND_BYTECODE:
            # a bytecode callee of native code costs its caller a bail-out every
            # time: it gets hot sooner than one the interpreter calls
            method.heat -= NATIVE_CALLER_HEAT
            if method.heat < 0 and interp.make_native(method):
                function = method.direct
        if function is None or depth >= MAX_DEPTH:
            return SLOW
        return function(interp, receiver, *args, depth + 1)
    if kind == KIND_CONSTANT:
        return receiver if method.trivial is None else method.trivial
    if kind == KIND_GETTER:
        return receiver.fields[method.trivial]
    if kind == KIND_SETTER:
        receiver.fields[method.trivial] = args[0]
        return receiver
    if kind == KIND_IDENTICAL:
        other = args[0]
        return V.TRUE if receiver is other or identical(receiver, other) else V.FALSE
    if kind == KIND_BLOCK_VALUE:
        if type(receiver) is not Closure or receiver.code.num_args != len(args):
            return SLOW
        block = receiver.code
        function = block.direct
        if function is None:
            block.heat -= 1
            if block.heat < 0 and interp.make_native(block):
                function = block.direct
        if function is None or depth >= MAX_DEPTH:
            return SLOW
        return function(interp, receiver, *args, depth + 1)
    if kind == KIND_ARRAY_AT or kind == KIND_ARRAY_AT_PUT:
        if kind == KIND_ARRAY_AT and type(receiver) is VArray:
            index = args[0]
            if type(index) is int and V.ONE <= index < V.ONE + len(receiver.items):
                return receiver.items[index - V.ONE]
        try:
            return method.primitive(vm, receiver, *args)
        except Exception as error:
            return primitive_failed(interp, method, receiver, args, error, depth)
    return SLOW          # control primitives, interpreter-only primitives


def compare(vm: Any, site: Any, a: Any, b: Any) -> Any:
    """``a = b`` (or another comparison) when the inline number test did not apply: the
    answer of the method ``a``'s class finds when that is a plain primitive (String =,
    Symbol =) or identity; None — the interpreter makes the send — for anything else,
    and for a primitive that fails (comparisons have no side effects to repeat)."""
    cls = vm.class_of(a)
    method = cls.lookup_cache.get(site.selector, _ABSENT)
    if method is _ABSENT:
        method = vm.lookup(cls, site.selector)
    if method is None:
        return None
    kind = method.kind
    if kind == KIND_PRIMITIVE:
        try:
            return method.primitive(vm, a, b)
        except Exception:
            return None
    if kind == KIND_IDENTICAL:
        return V.TRUE if identical(a, b) else V.FALSE
    return None


def primitive_failed(interp: Any, method: Any, receiver: Any, args: tuple, error: Exception,
                     depth: int) -> Any:
    """A primitive raised in a send made without a context. A PrimitiveFailed with a
    Smalltalk body to fall back on runs the body (directly, once it is native code);
    anything else is BAIL with ``interp.failure`` set, for ``primitive_error``."""
    if isinstance(error, PrimitiveFailed) and method.code and depth < MAX_DEPTH:
        function = method.direct
        if function is None:
            method.heat -= NATIVE_CALLER_HEAT     # as for an uncompiled callee (perform)
            if method.heat < 0 and interp.make_native(method):
                function = method.direct
        if function is not None:
            return function(interp, receiver, *args, depth + 1)
    interp.failure = (method, receiver, args, error)
    return BAIL
