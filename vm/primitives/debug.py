"""Primitives the debugger's hosted side is built on (lib/Process.som, lib/Context.som):
stopping a held process at an unhandled exception, and restarting a frame in the newest
definition of its method. The mechanics are ``vm.debugger``; these only connect it to
the exception code."""
from __future__ import annotations

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.debugger import latest_definition
from smalltalk_vm.vm.objects import Context
from smalltalk_vm.vm.primitives.context import context_prim_restart
from smalltalk_vm.vm.primitives.registry import control


@control("Process", "primStopFor:")
def process_stop_for(interp, ctx, argc):
    """In the current process, when a debugger holds it: park it, its stack intact,
    until the debugger resumes it (``vm.debugger``). Anywhere else: answer false."""
    exception = ctx.stack.pop()
    proc = ctx.stack.pop()
    debugger = interp.vm.debugger
    if proc is not interp.process or not proc.held or debugger is None:
        ctx.stack.append(V.FALSE)
        return ctx
    debugger.stop(proc, ctx, exception)
    return None


@control("Context", "primDebugRestart")
def context_debug_restart(interp, ctx, argc):
    """As primRestart, but a method activation whose method has been redefined since it
    started runs the new definition (the unwinding has already been done)."""
    target = ctx.stack[-1]
    if isinstance(target, Context) and target.pc >= 0 and _on_stack(ctx, target):
        latest = latest_definition(target.method)
        if latest is not None:
            target.method = latest
    return context_prim_restart(interp, ctx, argc)


def _on_stack(top: Context | None, target: Context) -> bool:
    while top is not None:
        if top is target:
            return True
        top = top.sender
    return False
