"""Primitives of Context (``thisContext``): reflection on activations, and the few
operations the hosted exception and unwinding code (lib/Exception.som, lib/Context.som)
is built on — finding handler frames, taking unwind blocks, cutting the stack back to a
context. Stack-trace formatting lives here too."""
from __future__ import annotations

from collections import deque
from typing import Any

from smalltalk_vm.vm import numtext
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import (
    FLAG_CURTAILED,
    FLAG_ENSURE,
    FLAG_HANDLER,
    FLAG_SEARCH,
    FLAG_UNWINDER,
    LAUNCHER_FILE,
    CompiledBlock,
    Context,
)
from smalltalk_vm.vm.primitives.block import reset_context
from smalltalk_vm.vm.primitives.registry import control, mark_method, primitive

# The methods the unwinding machinery recognises, and the temporaries it reads.
mark_method("Block", "on:do:", FLAG_HANDLER)
mark_method("Block", "ensure:", FLAG_ENSURE)
mark_method("Block", "ifCurtailed:", FLAG_CURTAILED)
mark_method("Exception", "searchFrom:", FLAG_SEARCH)
mark_method("Context class", "unwindFrom:to:", FLAG_UNWINDER)
mark_method("Context", "unwindAndReturn:", FLAG_UNWINDER)
UNWIND_DONE_TEMP = "complete"      # ensure:/ifCurtailed: — set once the block has run
SEARCH_CANDIDATE_TEMP = "candidate"    # searchFrom: — the on:do: being asked or handling
UNWINDING_TEMP = "unwinding"       # unwindFrom:to: — the ensure: whose block is running


def _ctx(rcv: Any) -> Context:
    if not isinstance(rcv, Context):
        raise PrimitiveFailed("receiver is not a context")
    return rcv


def _opt(value: Any) -> Any:
    return V.NIL if value is None else value


# Kernel methods that exist only to signal an error for their caller: a trace (and
# Exception>>signalerContext) starts below them, at the frame that asked for the error,
# as it starts below the exception's own methods. Keyed by holder name and selector.
# `Warning signal: 'x'` is only a shorthand for `Warning new signal: 'x'`: the
# debugger's frame list leaves these out too (it keeps the other signalling methods,
# whose frames say how the error came about).
CLASS_SIDE_SIGNALS = frozenset({("Exception class", "signal"), ("Exception class", "signal:")})
SIGNALLING_METHODS = frozenset({
    ("Object", "doesNotUnderstand:"), ("Object", "doesNotUnderstand:arguments:"),
    ("Object", "error:"), ("Object", "halt"), ("Object", "escapedBlock:"),
    ("Object", "mustBeBoolean"), ("Object", "subclassResponsibility"), ("Object", "assert:"),
    *CLASS_SIDE_SIGNALS,
})
# The entry point `vm run` sends (SOM's `system initialize: arguments`): the launcher of
# every program, left out of traces like the VM's own send launchers (LAUNCHER_FILE).
LAUNCHER_METHODS = frozenset({("System", "initialize:")})
# A trace longer than TRACE_HEAD + TRACE_TAIL + 1 frames shows its first and last frames
# around one "... N more frames ..." line: a runaway recursion is two screens, not 200
# copies of one line.
TRACE_HEAD = 10
TRACE_TAIL = 10


def context_line(ctx: Context) -> int:
    pc = ctx.pc
    return ctx.method.line_at(pc - 1 if pc > 0 else 0)


def method_key(ctx: Context) -> tuple[str, str] | None:
    method = ctx.method.home_method
    if method is None or method.holder is None:
        return None
    return method.holder.name, method.selector


def user_context(ctx: Context | None, exception: Any = None) -> Context | None:
    """The first activation from ``ctx`` down that is neither one of ``exception``'s
    own methods nor a kernel method that only signals (SIGNALLING_METHODS)."""
    while ctx is not None and ((ctx.receiver is exception and exception is not None)
                               or method_key(ctx) in SIGNALLING_METHODS):
        ctx = ctx.sender
    return ctx


def is_launcher(ctx: Context) -> bool:
    return ctx.method.home_method.source_file == LAUNCHER_FILE or method_key(ctx) in LAUNCHER_METHODS


def describe_context(ctx: Context) -> str:
    code = ctx.method
    method = code.home_method
    holder = method.holder.name if method is not None and method.holder is not None else "?"
    selector = method.selector if method is not None else "?"
    prefix = "[] in " if isinstance(code, CompiledBlock) else ""
    filename = method.source_file if method is not None else ""
    return f"{prefix}{holder}>>{selector} ({filename or '?'}:{context_line(ctx)})"


def running_method(ctx: Context | None) -> str:
    """``Class>>selector`` of the innermost activation from ``ctx`` down that is not a
    VM launcher ("" if there is none): what a process listing says a process runs."""
    while ctx is not None and ctx.method.home_method.source_file == LAUNCHER_FILE:
        ctx = ctx.sender
    if ctx is None:
        return ""
    method = ctx.method.home_method
    holder = method.holder.name if method.holder is not None else "?"
    return f"{holder}>>{method.selector}"


def trace_lines(ctx: Context | None) -> list[str]:
    """One ``Class>>selector (file:line)`` line per activation, innermost first, the
    launchers left out; past TRACE_HEAD + TRACE_TAIL + 1 frames, the first and the last
    ones around a line saying how many were left out. Walks the whole chain once,
    keeping only what it shows, so a million-frame recursion costs one pass."""
    head: list[str] = []
    tail: deque[Context] = deque(maxlen=TRACE_TAIL + 1)
    total = 0
    while ctx is not None:
        if not is_launcher(ctx):
            total += 1
            if len(head) < TRACE_HEAD:
                head.append(describe_context(ctx))
            else:
                tail.append(ctx)
        ctx = ctx.sender
    if total <= TRACE_HEAD + TRACE_TAIL + 1:
        return head + [describe_context(c) for c in tail]
    hidden = total - TRACE_HEAD - TRACE_TAIL
    last = list(tail)[-TRACE_TAIL:]
    return [*head, f"... {hidden} more frames ...", *(describe_context(c) for c in last)]


def temp_slot(ctx: Context, name: str) -> int | None:
    """The slot of the temporary ``name`` in ``ctx``; None when its method (a flagged
    kernel method someone redefined) has no such temporary."""
    names = ctx.method.temp_names
    if name not in names:
        return None
    slot = names.index(name)
    return slot if slot < len(ctx.stack) else None


def named_temp(ctx: Context, name: str) -> Any:
    slot = temp_slot(ctx, name)
    return None if slot is None else ctx.stack[slot]


@primitive("Context", "sender")
def context_sender(vm, rcv):
    return _opt(_ctx(rcv).sender)


@primitive("Context", "receiver")
def context_receiver(vm, rcv):
    return _ctx(rcv).receiver


@primitive("Context", "method")
def context_method(vm, rcv):
    return _opt(_ctx(rcv).method.home_method)


@primitive("Context", "home")
def context_home(vm, rcv):
    return _opt(_ctx(rcv).home)


@primitive("Context", "closure")
def context_closure(vm, rcv):
    return _opt(_ctx(rcv).closure)


@primitive("Context", "isBlockContext")
def context_is_block(vm, rcv):
    return V.TRUE if _ctx(rcv).closure is not None else V.FALSE


@primitive("Context", "isDead")
def context_is_dead(vm, rcv):
    return V.TRUE if _ctx(rcv).pc < 0 else V.FALSE


@primitive("Context", "lineNumber")
def context_line_number(vm, rcv):
    return vm.make_int(context_line(_ctx(rcv)))


@primitive("Context", "description")
def context_description(vm, rcv):
    return vm.new_string(describe_context(_ctx(rcv)))


@primitive("Context", "tempAt:")
def context_temp_at(vm, rcv, index):
    ctx = _ctx(rcv)
    i = vm.int_of(index)
    slots = len(ctx.method.temp_names)
    if not 1 <= i <= slots:
        raise vm.signal("SubscriptOutOfBounds",
                        f"Index {numtext.brief(i)} out of bounds for a context of {slots} slots", index=index)
    return ctx.stack[i - 1]


@primitive("Context", "tempAt:put:")
def context_temp_at_put(vm, rcv, index, val):
    ctx = _ctx(rcv)
    i = vm.int_of(index)
    slots = len(ctx.method.temp_names)
    if not 1 <= i <= slots:
        raise vm.signal("SubscriptOutOfBounds",
                        f"Index {numtext.brief(i)} out of bounds for a context of {slots} slots", index=index)
    ctx.stack[i - 1] = val
    return val


@primitive("Context", "tempNames")
def context_temp_names(vm, rcv):
    return vm.new_array([vm.symbol(n) for n in _ctx(rcv).method.temp_names if not n.startswith("<")])


@primitive("Context", "userContextFor:")
def context_user_context(vm, rcv, exception):
    """What Exception>>signalerContext answers: the first activation from the receiver
    down that is not part of signalling ``exception`` (see user_context)."""
    return _opt(user_context(_ctx(rcv), exception))


@primitive("Context", "findHandlerContext")
def context_find_handler(vm, rcv):
    """The first on:do: activation, from the receiver down, that may handle a signal
    made at the receiver. Skipped (ANSI: a signal is looked up in the exception
    environment its code runs in):

    - the activations from a handler search down to the on:do: it is asking or whose
      handler it runs, that on:do: included — a handler, or a ``handles:``, that
      signals is handled outside its on:do:;
    - the activations from a running unwind block down to its ensure:/ifCurtailed: —
      the block runs as if the stack had been cut back to that activation (Pharo).

    Every step goes to an older activation, so the walk ends."""
    ctx = _ctx(rcv)
    while ctx is not None:
        flags = ctx.method.flags
        if flags & FLAG_HANDLER:
            return ctx
        if flags & FLAG_SEARCH:
            candidate = named_temp(ctx, SEARCH_CANDIDATE_TEMP)
            if isinstance(candidate, Context):
                ctx = candidate.sender
                continue
        elif flags & FLAG_UNWINDER:
            unwinding = named_temp(ctx, UNWINDING_TEMP)
            if isinstance(unwinding, Context):
                ctx = unwinding
                continue
        ctx = ctx.sender
    return V.NIL


@primitive("Context class", "takeUnwindContextFrom:to:")
def context_take_next_unwind_context(vm, rcv, top, target):
    """The first ensure:/ifCurtailed: activation from ``top`` down to (not including)
    ``target`` (nil: the bottom of the stack) whose block has not run, marked as run;
    nil when there is none."""
    ctx = top if isinstance(top, Context) else None
    flags = _UNWIND_FLAGS
    while ctx is not target and ctx is not None:
        if ctx.method.flags & flags and ctx.pc >= 0:
            slot = temp_slot(ctx, UNWIND_DONE_TEMP)
            if slot is not None and ctx.stack[slot] == V.NIL:
                ctx.stack[slot] = V.TRUE
                return ctx
        ctx = ctx.sender
    return V.NIL


_UNWIND_FLAGS = FLAG_ENSURE | FLAG_CURTAILED


@primitive("Context", "bottomContext")
def context_bottom(vm, rcv):
    ctx = _ctx(rcv)
    while ctx.sender is not None:
        ctx = ctx.sender
    return ctx


def _on_stack(top: Context, target: Context) -> bool:
    walker = top
    while walker is not None:
        if walker is target:
            return True
        walker = walker.sender
    return False


@control("Context", "primReturn:")
def context_prim_return(interp, ctx, argc):
    """Cut the stack back so that the receiver returns the argument to its sender. The
    caller has already run the unwind blocks in between."""
    result = ctx.stack.pop()
    target = ctx.stack.pop()
    if not isinstance(target, Context) or target.pc < 0 or not _on_stack(ctx, target):
        return interp.signal_exception(ctx, "Error", "cannot return: the context is not on this stack")
    return interp.return_from(ctx, target, result)


@control("Context", "primRestart")
def context_prim_restart(interp, ctx, argc):
    """Cut the stack back to the receiver and start it over."""
    target = ctx.stack.pop()
    if not isinstance(target, Context) or target.pc < 0 or not _on_stack(ctx, target):
        return interp.signal_exception(ctx, "Error", "cannot restart: the context is not on this stack")
    walker = ctx
    while walker is not target:
        walker.pc = -1
        walker = walker.sender
    reset_context(target)
    return target
