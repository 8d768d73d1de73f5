"""Primitives of Context (``thisContext``): reflection on activations, and the few
operations the hosted exception and unwinding code (lib/Exception.som, lib/Context.som)
is built on — finding handler frames, taking unwind blocks, cutting the stack back to a
context. Stack-trace formatting lives here too."""
from __future__ import annotations

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
UNWIND_DONE_TEMP = "complete"      # ensure:/ifCurtailed: — set once the block has run
SEARCH_CANDIDATE_TEMP = "candidate"    # searchFrom: — the on:do: being asked or handling
UNWINDING_TEMP = "unwinding"       # unwindFrom:to: — the ensure: whose block is running


def _ctx(rcv: Any) -> Context:
    if not isinstance(rcv, Context):
        raise PrimitiveFailed("receiver is not a context")
    return rcv


def _opt(value: Any) -> Any:
    return V.NIL if value is None else value


def context_line(ctx: Context) -> int:
    pc = ctx.pc
    return ctx.method.line_at(pc - 1 if pc > 0 else 0)


def describe_context(ctx: Context) -> str:
    code = ctx.method
    method = code.home_method
    holder = method.holder.name if method is not None and method.holder is not None else "?"
    selector = method.selector if method is not None else "?"
    prefix = "[] in " if isinstance(code, CompiledBlock) else ""
    filename = method.source_file if method is not None else ""
    return f"{prefix}{holder}>>{selector} ({filename or '?'}:{context_line(ctx)})"


def trace_lines(ctx: Context | None, limit: int = 200) -> list[str]:
    """One ``Class>>selector (file:line)`` line per activation, innermost first."""
    lines: list[str] = []
    while ctx is not None and len(lines) < limit:
        if ctx.method.home_method.source_file != LAUNCHER_FILE:
            lines.append(describe_context(ctx))
        ctx = ctx.sender
    if ctx is not None:
        lines.append("...")
    return lines


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
    while ctx is not None and ctx is not target:
        if ctx.method.flags & (FLAG_ENSURE | FLAG_CURTAILED) and ctx.pc >= 0:
            slot = temp_slot(ctx, UNWIND_DONE_TEMP)
            if slot is not None and ctx.stack[slot] == V.NIL:
                ctx.stack[slot] = V.TRUE
                return ctx
        ctx = ctx.sender
    return V.NIL


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
