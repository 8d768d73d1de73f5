"""The meaning of sending, activating, failing and returning — in one place, so that
the dispatch loop (``vm.interpreter``) and any later execution tier share it.

The loop inlines only the common cases (an inline-cache hit on a bytecode method, a
trivial method, a block activation, SmallInteger/Double arithmetic) and calls these
for everything else. Every helper works on a context's operand stack (receiver and
arguments on top) and answers the context to continue in, or None when the process
must leave the interpreter (it parked, ended, or the VM is exiting).
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed, SignalException, fault_text, method_name
from smalltalk_vm.vm.objects import (
    FLAG_CURTAILED,
    FLAG_ENSURE,
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_CONSTANT,
    KIND_CONTROL,
    KIND_FORWARD,
    KIND_GETTER,
    KIND_NATIVE,
    KIND_SETTER,
    Closure,
    Context,
    new_block_context,
    new_method_context,
)

_NILS = tuple(tuple([V.NIL] * n) for n in range(256))
_UNWIND_FLAGS = FLAG_ENSURE | FLAG_CURTAILED


def nils(count: int) -> tuple:
    return _NILS[count] if count < 256 else tuple([V.NIL] * count)


class Semantics:
    """Mixed into the Interpreter with ``vm.faults.FaultBoundary`` (``send_fault``,
    ``_unpark``); ``self.vm`` is the universe, ``self.process`` the process being run.
    VM thread only; never blocks; never raises for a Smalltalk-level problem."""

    vm: Any
    process: Any

    # ------------------------------------------------------------------ sending

    def send_selector(self, ctx: Context, receiver: Any, selector: str, argc: int) -> Context | None:
        """Send ``selector`` to the receiver and ``argc`` arguments already on top of
        ``ctx``'s stack (receiver included)."""
        cls = self.vm.class_of(receiver)
        method = self.vm.lookup(cls, selector)
        if method is None:
            return self.dnu(ctx, receiver, selector, argc)
        return self.activate(ctx, method, argc)

    def send(self, ctx: Context, selector: str, argc: int) -> Context | None:
        return self.send_selector(ctx, ctx.stack[-1 - argc], selector, argc)

    def push_and_send(self, ctx: Context, receiver: Any, selector: str, args: list) -> Context | None:
        ctx.stack.append(receiver)
        ctx.stack.extend(args)
        return self.send_selector(ctx, receiver, selector, len(args))

    def super_send(self, ctx: Context, site: Any) -> Context | None:
        holder = ctx.method.home_method.holder
        start = holder.superclass
        method = self.vm.lookup(start, site.selector) if start is not None else None
        receiver = ctx.stack[-1 - site.argc]
        if method is None:
            return self.dnu(ctx, receiver, site.selector, site.argc)
        return self.activate(ctx, method, site.argc)

    def activate(self, ctx: Context, method: Any, argc: int) -> Context | None:
        """Run ``method`` on the receiver and arguments on top of ``ctx``'s stack. A
        Python exception on the way is a fault of this send (``vm.faults``)."""
        kind = method.kind
        stack = ctx.stack
        base = len(stack) - argc - 1
        resume_pc = ctx.pc
        try:
            if kind == KIND_BYTECODE or kind == KIND_NATIVE:
                return self.method_context(ctx, method, argc)
            if kind == KIND_CONTROL or kind == KIND_BLOCK_VALUE:
                return method.primitive(self, ctx, argc)
            if kind == KIND_FORWARD:
                return self.forward(ctx, method, argc)
            # KIND_PRIMITIVE, KIND_ARRAY_AT and KIND_ARRAY_AT_PUT all call the primitive here.
            if kind == KIND_GETTER:
                stack[-1] = stack[-1].fields[method.trivial]
                return ctx
            if kind == KIND_SETTER:
                value = stack[-1]
                stack[-2].fields[method.trivial] = value
                del stack[-1]
                return ctx
            if kind == KIND_CONSTANT:
                del stack[len(stack) - argc:]
                if method.trivial is not None:
                    stack[-1] = method.trivial
                return ctx
            receiver = stack[-1 - argc]
            args = stack[len(stack) - argc:]
            try:
                result = method.primitive(self.vm, receiver, *args)
            except Exception as error:
                return self.primitive_error(ctx, method, argc, error)
            del stack[-argc - 1:]
            stack.append(result)
            return ctx
        except Exception as error:
            where = f"primitive {method_name(method)}" if method.primitive is not None else method_name(method)
            return self.send_fault(ctx, base, resume_pc, where, error)

    def forward(self, ctx: Context, method: Any, argc: int) -> Context | None:
        """A forwarding method (``^ x selector: y ...`` with x and y among self and the
        arguments, ``vm.quicken``): make its one send in place of its activation."""
        selector, receiver_position, positions, _ = method.trivial
        stack = ctx.stack
        if positions is None:
            return self.send_selector(ctx, stack[-1 - argc], selector, argc)
        values = stack[len(stack) - argc - 1:]
        del stack[len(stack) - argc - 1:]
        receiver = values[receiver_position]
        stack.append(receiver)
        stack.extend(values[p] for p in positions)
        return self.send_selector(ctx, receiver, selector, len(positions))

    def method_context(self, ctx: Context, method: Any, argc: int) -> Context:
        stack = ctx.stack
        receiver = stack[-1 - argc]
        new_stack = stack[len(stack) - argc:]
        del stack[-argc - 1:]
        new_stack.extend(nils(method.num_temps))
        return new_method_context(self.vm.method_context_class, method, new_stack, receiver, ctx)

    def block_context(self, ctx: Context | None, closure: Closure, args: list) -> Context:
        """A context running ``closure`` with ``args``; its sender is ``ctx``."""
        new_stack = list(args)
        new_stack.extend(nils(closure.code.num_temps))
        return new_block_context(self.vm.block_context_class, closure, new_stack, ctx)

    def dnu(self, ctx: Context, receiver: Any, selector: str, argc: int) -> Context | None:
        vm = self.vm
        stack = ctx.stack
        args = vm.new_array(stack[len(stack) - argc:])
        del stack[-argc - 1:]
        handler = vm.lookup(vm.class_of(receiver), "doesNotUnderstand:arguments:")
        if handler is None:
            # A root class of the user's (`Foo = nil ( )`) has no doesNotUnderstand:.
            return self.signal_exception(ctx, "MessageNotUnderstood",
                                         f"{vm.class_of(receiver).name} does not understand #{selector} "
                                         "(nor #doesNotUnderstand:arguments:)",
                                         receiver=receiver)
        stack.append(receiver)
        stack.append(vm.symbol(selector))
        stack.append(args)
        return self.activate(ctx, handler, 2)

    # ------------------------------------------------------------------ errors

    def primitive_error(self, ctx: Context, method: Any, argc: int, error: Exception) -> Context | None:
        """A primitive raised: run its fallback body, or signal the matching exception
        in the sender with the receiver and arguments popped."""
        if isinstance(error, PrimitiveFailed) and method.code:
            return self.method_context(ctx, method, argc)
        del ctx.stack[-argc - 1:]
        return self.push_and_send(ctx, self.exception_for(f"primitive {method_name(method)}", error), "signal", [])

    def exception_for(self, where: str, error: BaseException) -> Any:
        """The Smalltalk exception a Python exception out of ``where`` becomes: the one a
        SignalException names, an Error for PrimitiveFailed, else an InternalError (the
        fault boundary, ``vm.faults``)."""
        vm = self.vm
        if isinstance(error, SignalException):
            return vm.make_exception(error.class_name, error.message_text, **error.fields)
        if isinstance(error, PrimitiveFailed):
            reason = f": {error.reason}" if error.reason else ""
            return vm.make_exception("Error", f"{where} failed{reason}")
        self._unpark(self.process)
        return vm.make_exception("InternalError", fault_text(where, error))

    def signal_in(self, process: Any, class_name: str, text: str) -> Context | None:
        """Signal an exception at the top of a process that is not running (the
        scheduler's stack-overflow check); answer its new top context."""
        previous = self.process
        self.process = process
        try:
            return self.signal_exception(process.ctx, class_name, text)
        finally:
            self.process = previous

    def signal_exception(self, ctx: Context, class_name: str, text: str, **fields: Any) -> Context | None:
        exc = self.vm.make_exception(class_name, text, **fields)
        return self.push_and_send(ctx, exc, "signal", [])

    def missing_global(self, ctx: Context, name: str) -> Context | None:
        """A global read found nothing: load the class along the classpath, else send
        ``unknownGlobal:`` to the receiver."""
        vm = self.vm
        try:
            found = vm.global_value(name)
        except Exception as error:
            return self.signal_exception(ctx, "Error", f"cannot load {name}: {error}")
        if found is not None:
            ctx.stack.append(found)
            return ctx
        return self.push_and_send(ctx, ctx.receiver, "unknownGlobal:", [vm.symbol(name)])

    # ------------------------------------------------------------------ returns

    def nonlocal_return(self, ctx: Context, result: Any) -> Context | None:
        """``^ result`` inside a block: leave the home method, running the unwind blocks
        of any ensure:/ifCurtailed: activations on the way."""
        home = ctx.home
        walker = ctx
        needs_unwind = False
        while walker is not home:
            if walker is None:
                break
            if walker.method.flags & _UNWIND_FLAGS:
                needs_unwind = True
            walker = walker.sender
        if walker is None or home is None or home.pc < 0:
            # The home method has returned (or lives in another process): the block escaped.
            ctx.pc += 1            # the compiler puts a RETURN after every RETURN_NONLOCAL
            return self.push_and_send(ctx, ctx.receiver, "escapedBlock:", [ctx.closure])
        if needs_unwind:
            return self.push_and_send(ctx, ctx, "unwindTo:returning:", [home, result])
        return self.return_from(ctx, home, result)

    def return_from(self, top: Context, target: Context, result: Any) -> Context | None:
        """Pop every context from ``top`` down to and including ``target``, marking them
        returned, and continue in ``target``'s sender with ``result``."""
        walker = top
        while walker is not target:
            walker.pc = -1
            walker = walker.sender
        target.pc = -1
        sender = target.sender
        if sender is None:
            self.process.result = result
            self.process.ctx = None
            return None
        sender.stack.append(result)
        return sender

    # ------------------------------------------------------------------ eventual sends

    def eventual_send(self, ctx: Context, site: Any) -> Context | None:
        """``receiver ~> message``: hand the message to the hosted runtime, which queues
        it and answers a Promise."""
        vm = self.vm
        stack = ctx.stack
        argc = site.argc
        args = vm.new_array(stack[len(stack) - argc:])
        del stack[len(stack) - argc:]
        receiver = stack.pop()
        promise_class = vm.kernel_class("Promise")
        return self.push_and_send(ctx, promise_class, "send:to:with:",
                                  [vm.symbol(site.selector), receiver, args])
