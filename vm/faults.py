"""The fault boundary: a Python exception raised while a process runs — in a primitive,
a control primitive, the send machinery, the interpreter loop or native code — becomes
an ``InternalError`` signalled in *that* process. It never reaches the scheduler, so
one bad value never takes the VM down.

The rules, and the state each one leaves behind (what ``resume:`` continues with):

- A fault in a send (a primitive, a control primitive, activating a method): the send
  is abandoned — its receiver and arguments leave the operand stack — and the error is
  signalled in the sending context, which stands after the send. ``resume: v`` makes
  ``v`` the value of the send. A process the failed primitive had parked is running
  again.
- A field instruction of obsolete code that names a variable a class redefinition
  removed (``vm.ghosts``) is not a fault when the receiver has a ghost of it: the
  access reads or writes the ghost and the activation goes on after the instruction.
  (Removed variables have operands no fields list reaches, so the interpreter's fast
  path needs no test for them: the rare access lands here.)
- A fault in a field instruction the interpreter was running (the receiver lacks the
  field: a removed variable it has no ghost of, say): the instruction is abandoned;
  the error is signalled in that context, which stands after the instruction.
  ``resume: v`` makes ``v`` the field's value (for an assignment, the assignment's
  value).
- Any other fault (native code, a context whose state is suspect): the faulting
  activation is cut back — marked returned — and the error is signalled in its
  sender, as if the send that started it had failed: ``resume: v`` makes ``v`` its
  answer. Native code that faulted is given up; its unit runs interpreted from then on.
- With no context left to signal in (the bottom activation faulted, or signalling
  itself failed) the process ends with the error as its exit reason.

The message names where it happened (``primitive Class>>selector``, or the activation
``Class>>selector (file:line)``) and the Python exception's class and text. A
``VMFatal`` keeps its own text: it names a VM condition, not a bug.

This module decides where an error is signalled and what the context looks like; it
never lets an exception out. Signalling itself is ``vm.semantics``.
"""
from __future__ import annotations

from types import TracebackType
from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import ghosts
from smalltalk_vm.vm.errors import fault_text, method_name
from smalltalk_vm.vm.native import NEVER
from smalltalk_vm.vm.objects import KIND_BYTECODE, KIND_NATIVE, CompiledMethod, Context
from smalltalk_vm.vm.primitives.context import describe_context
from smalltalk_vm.vm.process import RUNNABLE, SLEEPING, WAITING

# Field instructions the interpreter runs, and how many of their operands are still on
# the stack when the field access fails (the store's value, for STORE_FIELD).
_FIELD_INSTRUCTIONS = {B.PUSH_FIELD: 0, B.Q_RETURN_FIELD: 0, B.STORE_FIELD: 1, B.POP_FIELD: 0}
_FIELD_READS = frozenset({B.PUSH_FIELD, B.Q_RETURN_FIELD})   # Q_RETURN_FIELD's RETURN follows it


class FaultBoundary:
    """Mixed into the interpreter, next to ``vm.semantics`` (whose ``signal_exception``
    it uses). Runs on the VM thread only; never blocks; never raises — every method
    answers the context to continue in, or None when the process must leave the
    interpreter (it parked or ended)."""

    vm: Any
    process: Any
    slice_budget: int | None = None     # set by a ghost access: the slice may go on

    # ------------------------------------------------------------------ sends

    def send_fault(self, ctx: Context, base: int, resume_pc: int, where: str,
                   error: BaseException) -> Context | None:
        """A send made in ``ctx`` (its receiver at stack index ``base``) raised. A
        control primitive may raise ``SignalException`` or ``PrimitiveFailed`` on
        purpose, as plain primitives do: those signal their own exception."""
        proc = self.process
        self._unpark(proc)
        if not proc.alive:
            return None
        stack = ctx.stack
        if len(stack) < base or getattr(ctx, "pc", 0) < 0:     # an inline activation has no pc yet
            # The failed machinery consumed values below the send's own: this context
            # has nothing sane to go on with.
            return self.cut_fault(ctx, fault_text(where, error))
        del stack[base:]
        ctx.pc = resume_pc
        try:
            exc = self.exception_for(where, error)
        except Exception as failure:
            return self.end_process(proc, f"{fault_text(where, error)} (and signalling it failed: "
                                          f"{type(failure).__name__}: {failure})", [])
        return self.signal_object(ctx, exc)

    # ------------------------------------------------------------------ the slice

    def recover(self, error: BaseException, slice_code: Any) -> Context | None:
        """An exception escaped the interpreter's time slice (``slice_code`` is the code
        object of the loop function): find the faulting context in the loop's frame and
        apply the rules above."""
        proc = self.process
        try:
            tb = _frame_of(error.__traceback__, slice_code)
            local = tb.tb_frame.f_locals if tb is not None else {}
            ctx = local.get("ctx")
            deeper = tb.tb_next if tb is not None else None
            in_native = deeper is not None and deeper.tb_frame.f_code.co_filename.startswith("<native")
        except Exception:
            ctx, local, deeper, in_native = None, {}, None, False
        finally:
            error.__traceback__ = None          # frames keep whole stacks alive
        self._unpark(proc)
        if not proc.alive:
            return None
        if not isinstance(ctx, Context):
            return self.end_process(proc, fault_text("the interpreter", error), [])
        if in_native:
            give_up_native(self.vm, ctx.method)
            return self.cut_fault(ctx, fault_text(f"native code of {_describe(ctx)}", error))
        pc = local.get("pc")
        if deeper is None and local.get("code") is ctx.method.fast and type(pc) is int:
            ctx.pc = pc                          # so that the description names the right line
            found = self.field_fault(ctx, pc, error, local.get("budget"))
            if found is not False:
                return found
        return self.cut_fault(ctx, fault_text(_describe(ctx), error))

    def native_fault(self, ctx: Context, error: BaseException) -> Context | None:
        """A direct function (``vm.native``) raised; ``ctx`` is its activation, made
        when it bailed out, with the chain below it linked."""
        proc = self.process
        self._unpark(proc)
        if not proc.alive:
            return None
        give_up_native(self.vm, ctx.method)
        return self.cut_fault(ctx, fault_text(f"native code of {_describe(ctx)}", error))

    def field_fault(self, ctx: Context, pc: int, error: BaseException,
                    budget: Any = None) -> Context | bool | None:
        """The interpreter's field instruction at ``pc`` failed; False if the fault was
        not that instruction's. A ghost access leaves the slice's remaining ``budget``
        in ``slice_budget``: the slice goes on, as after any field instruction."""
        code = ctx.method.fast
        if not 0 <= pc < len(code) - 1 or code[pc] not in _FIELD_INSTRUCTIONS:
            return False
        op = code[pc]
        field = ctx.method.fused[code[pc + 1]][0] if op == B.Q_RETURN_FIELD else code[pc + 1]
        fields = getattr(ctx.receiver, "fields", None)
        if isinstance(fields, list) and 0 <= field < len(fields):
            return False
        removed = self.vm.removed_fields.describe(field)
        if removed is not None:
            if _ghost_access(ctx, pc, op, removed):
                ctx.pc = pc + 2
                self.slice_budget = budget if type(budget) is int else None
                return ctx
            text = (f"{_describe(ctx)}: instance variable {removed.variable} no longer exists "
                    f"({removed.class_name} was redefined without it, and this "
                    f"{_class_name(self.vm, ctx.receiver)} did not have it then)")
        else:
            text = fault_text(_describe(ctx), error)
        if _FIELD_INSTRUCTIONS[op]:
            del ctx.stack[-1]
        ctx.pc = pc + 2
        return self.signal_internal(ctx, text)

    def cut_fault(self, ctx: Context, text: str) -> Context | None:
        """Cut ``ctx`` back and signal in its sender; end the process if there is none."""
        sender = ctx.sender
        trace = [_describe(ctx)]
        ctx.pc = -1
        if sender is None or sender.pc < 0:
            return self.end_process(self.process, text, trace)
        return self.signal_internal(sender, text)

    # ------------------------------------------------------------------ signalling

    def signal_internal(self, ctx: Context, text: str) -> Context | None:
        """Signal an InternalError in ``ctx``; end the process if even that fails."""
        try:
            exc = self.vm.make_exception("InternalError", text)
        except Exception as failure:
            return self.end_process(self.process, f"{text} (and signalling it failed: "
                                                  f"{type(failure).__name__}: {failure})", [])
        return self.signal_object(ctx, exc)

    def signal_object(self, ctx: Context, exc: Any) -> Context | None:
        """Send ``signal`` to an exception made by the VM; end the process with it as
        the reason if even the send fails."""
        try:
            return self.push_and_send(ctx, exc, "signal", [])
        except Exception:
            self.end_process(self.process, "", [_describe(ctx)], exc)
            return None

    def end_process(self, proc: Any, text: str, trace: list[str], reason: Any = None,
                    class_name: str = "InternalError") -> None:
        """End ``proc`` with ``reason``, or an exception of ``class_name`` with ``text``
        (the Symbol #internalError if none can be made). No unwind blocks run: the
        contexts are what failed."""
        vm = self.vm
        if reason is None:
            try:
                reason = vm.make_exception(class_name, text)
            except Exception:
                reason = vm.symbol("internalError")
        proc.crash_trace = trace
        vm.scheduler.terminate(proc, reason)

    def _unpark(self, proc: Any) -> None:
        """A primitive that parked the process and then failed: it runs again."""
        if proc.state in (WAITING, SLEEPING):
            self.vm.scheduler.cancel_wake_timer(proc)
            proc.state = RUNNABLE
            proc.wait_mode = 0
            proc.wait_arg = None


def _ghost_access(ctx: Context, pc: int, op: int, removed: Any) -> bool:
    """Run the field instruction at ``pc`` on the receiver's ghost of ``removed``;
    False (nothing done) if the receiver has none."""
    receiver = ctx.receiver
    stack = ctx.stack
    if op in _FIELD_READS:
        value = ghosts.read(receiver, removed)
        if value is ghosts.ABSENT:
            return False
        stack.append(value)
        return True
    if op != B.STORE_FIELD or not ghosts.write(receiver, removed, stack[-1]):
        return False
    if ctx.method.code[pc] == B.POP_FIELD:      # an assignment statement (vm.quicken)
        del stack[-1]
    return True


def _class_name(vm: Any, obj: Any) -> str:
    try:
        return vm.class_of(obj).name
    except Exception:
        return "object"


def give_up_native(vm: Any, unit: Any) -> None:
    """The second tier will not run ``unit`` again. Send sites may hold a method's
    direct function (``SendSite.fn``): new lookup tokens for its class make them
    find it again."""
    unit.native = None
    unit.direct = None
    unit.native_entries = frozenset()
    unit.heat = NEVER
    if isinstance(unit, CompiledMethod) and unit.kind == KIND_NATIVE:
        unit.kind = KIND_BYTECODE
        if unit.holder is not None:
            vm.invalidate(unit.holder)


def _describe(ctx: Context) -> str:
    """``Class>>selector (file:line)`` of a context that may be the broken one."""
    try:
        return describe_context(ctx)
    except Exception:
        return method_name(getattr(ctx, "method", None))


def _frame_of(tb: TracebackType | None, code: Any) -> TracebackType | None:
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    return tb
