"""Primitives of Process that the language core needs: the current process, and how
an unhandled error ends one (its trace recorded first, for the report)."""
from __future__ import annotations

from vm import value as V
from vm.objects import Context
from vm.primitives.context import trace_lines
from vm.primitives.registry import control, primitive


@primitive("Process class", "current")
def process_current(vm, rcv):
    return vm.scheduler.current


@primitive("Process", "recordCrash:")
def process_record_crash(vm, rcv, exc):
    """Keep the trace from where ``exc`` was signalled, before unwinding destroys it."""
    signal_ctx = V.NIL
    fields = getattr(exc, "fields", None)
    if fields is not None:
        names = vm.all_field_names(exc.cls)
        if "signalContext" in names:
            signal_ctx = fields[names.index("signalContext")]
    start = signal_ctx if type(signal_ctx) is Context else None
    while start is not None and start.receiver is exc:
        start = start.sender          # the exception's own signalling machinery
    rcv.crash_trace = trace_lines(start)
    return rcv


@control("Process", "primTerminate:")
def process_prim_terminate(interp, ctx, argc):
    """End the receiver with the given reason. Ending the current process leaves the
    interpreter; ending another one just answers it."""
    reason = ctx.stack.pop()
    proc = ctx.stack[-1]
    scheduler = interp.vm.scheduler
    if proc is interp.process:
        proc.ctx = ctx
        scheduler.terminate(proc, reason)
        return None
    scheduler.terminate(proc, reason)
    return ctx
