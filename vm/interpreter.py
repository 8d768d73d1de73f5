"""The stackless bytecode interpreter.

Frames are ``Context`` objects: a send pushes one and the same Python loop continues, a
return pops one, so the Python stack never grows with Smalltalk call depth. ``run``
executes one process until it uses up its reduction budget (sends and backward jumps),
parks, finishes or dies, and reports which to the scheduler.

The semantics of sending live in ``send``/``activate``/``dnu``; the loop inlines only the
common case (inline-cache hit on a bytecode method, SmallInteger/Double arithmetic) and
defers to those helpers for everything else. This module must not import the compiler,
images or the node layer.
"""
from __future__ import annotations

from typing import Any

from vm import bytecodes as B
from vm import value as V
from vm.errors import PrimitiveFailed, SignalException, VMFatal
from vm.objects import (
    FLAG_CURTAILED, FLAG_ENSURE, KIND_BYTECODE, KIND_CONTROL, Closure, Context, VArray,
)

# What run() reports to the scheduler.
YIELDED = 0      # budget used up; still runnable
SWITCHED = 1     # a control primitive parked or ended the process
FINISHED = 2     # the bottom context returned; process.result holds the value

_NILS = tuple(tuple([V.NIL] * n) for n in range(256))
_UNWIND_FLAGS = FLAG_ENSURE | FLAG_CURTAILED


def nils(count: int) -> tuple:
    return _NILS[count] if count < 256 else tuple([V.NIL] * count)


class Interpreter:
    def __init__(self, universe: Any) -> None:
        self.vm = universe
        universe.interpreter = self
        self.process: Any = None          # the process being run

    # ------------------------------------------------------------------ loop

    def run(self, process: Any, budget: int) -> int:
        """Run ``process`` for at most ``budget`` reductions."""
        self.process = process
        vm = self.vm
        class_of = vm.class_of
        lookup = vm.lookup
        globals_ = vm.globals
        context_cls = vm.Context
        block_classes = vm.block_classes
        NIL, TRUE, FALSE, ZERO = V.NIL, V.TRUE, V.FALSE, V.ZERO
        INT_LO, INT_HI = V.INT_LO, V.INT_HI
        PUSH_LOCAL, PUSH_FIELD, SEND, PUSH_SELF = B.PUSH_LOCAL, B.PUSH_FIELD, B.SEND, B.PUSH_SELF
        PUSH_LITERAL, RETURN, POP, POP_LOCAL = B.PUSH_LITERAL, B.RETURN, B.POP, B.POP_LOCAL
        JUMP_IF_FALSE, JUMP_IF_TRUE, JUMP, JUMP_BACK = B.JUMP_IF_FALSE, B.JUMP_IF_TRUE, B.JUMP, B.JUMP_BACK
        SEND_ADD, SEND_SUB, SEND_MUL = B.SEND_ADD, B.SEND_SUB, B.SEND_MUL
        SEND_LT, SEND_GT, SEND_LE, SEND_GE = B.SEND_LT, B.SEND_GT, B.SEND_LE, B.SEND_GE
        SEND_EQ, SEND_NE = B.SEND_EQ, B.SEND_NE
        PUSH_OUTER, POP_OUTER, POP_FIELD = B.PUSH_OUTER, B.POP_OUTER, B.POP_FIELD
        STORE_LOCAL, STORE_OUTER, STORE_FIELD = B.STORE_LOCAL, B.STORE_OUTER, B.STORE_FIELD
        PUSH_NIL, PUSH_TRUE, PUSH_FALSE = B.PUSH_NIL, B.PUSH_TRUE, B.PUSH_FALSE
        PUSH_GLOBAL, PUSH_BLOCK, PUSH_CONTEXT, DUP = B.PUSH_GLOBAL, B.PUSH_BLOCK, B.PUSH_CONTEXT, B.DUP
        SUPER_SEND, EVENTUAL_SEND = B.SUPER_SEND, B.EVENTUAL_SEND
        JUMP_IF_NIL, JUMP_IF_NOT_NIL = B.JUMP_IF_NIL, B.JUMP_IF_NOT_NIL
        RETURN_SELF, RETURN_NONLOCAL, MAKE_ARRAY = B.RETURN_SELF, B.RETURN_NONLOCAL, B.MAKE_ARRAY
        STORE_GLOBAL = B.STORE_GLOBAL

        ctx = process.ctx
        while True:
            method = ctx.method
            code = method.code
            literals = method.literals
            sites = method.sites
            stack = ctx.stack
            pc = ctx.pc
            rcv = ctx.receiver
            while True:
                op = code[pc]
                if op == PUSH_LOCAL:
                    stack.append(stack[code[pc + 1]])
                    pc += 2
                    continue
                if op == PUSH_FIELD:
                    stack.append(rcv.fields[code[pc + 1]])
                    pc += 2
                    continue
                if op != SEND:
                    if op == PUSH_SELF:
                        stack.append(rcv)
                        pc += 1
                        continue
                    if op == PUSH_LITERAL:
                        stack.append(literals[code[pc + 1]])
                        pc += 2
                        continue
                    if op == RETURN:
                        result = stack[-1]
                        ctx.pc = -1
                        ctx = ctx.sender
                        if ctx is None:
                            process.result = result
                            process.ctx = None
                            return FINISHED
                        ctx.stack.append(result)
                        break
                    if op == POP:
                        del stack[-1]
                        pc += 1
                        continue
                    if op == POP_LOCAL:
                        stack[code[pc + 1]] = stack.pop()
                        pc += 2
                        continue
                    if op == JUMP_IF_FALSE or op == JUMP_IF_TRUE:
                        cond = stack.pop()
                        if cond == FALSE:
                            pc = code[pc + 1] if op == JUMP_IF_FALSE else pc + 2
                        elif cond == TRUE:
                            pc = code[pc + 1] if op == JUMP_IF_TRUE else pc + 2
                        else:
                            ctx.pc = pc
                            stack.append(cond)
                            ctx = self.send_selector(ctx, cond, "mustBeBoolean", 0)
                            break
                        continue
                    if op == JUMP:
                        pc = code[pc + 1]
                        continue
                    if op == JUMP_BACK:
                        budget -= 1
                        if budget < 0:
                            ctx.pc = pc
                            process.ctx = ctx
                            return YIELDED
                        pc = code[pc + 1]
                        continue
                    if op == SEND_ADD:
                        b = stack[-1]
                        a = stack[-2]
                        if type(a) is int and type(b) is int and INT_LO <= a < INT_HI and INT_LO <= b < INT_HI:
                            r = a + b - ZERO
                            if INT_LO <= r < INT_HI:
                                del stack[-1]
                                stack[-1] = r
                                pc += 2
                                continue
                        elif type(a) is float and type(b) is float:
                            del stack[-1]
                            stack[-1] = a + b
                            pc += 2
                            continue
                    elif op == SEND_SUB:
                        b = stack[-1]
                        a = stack[-2]
                        if type(a) is int and type(b) is int and INT_LO <= a < INT_HI and INT_LO <= b < INT_HI:
                            r = a - b + ZERO
                            if INT_LO <= r < INT_HI:
                                del stack[-1]
                                stack[-1] = r
                                pc += 2
                                continue
                        elif type(a) is float and type(b) is float:
                            del stack[-1]
                            stack[-1] = a - b
                            pc += 2
                            continue
                    elif op == SEND_LT or op == SEND_GT or op == SEND_LE or op == SEND_GE \
                            or op == SEND_EQ or op == SEND_NE:
                        b = stack[-1]
                        a = stack[-2]
                        if (type(a) is int and type(b) is int and INT_LO <= a < INT_HI
                                and INT_LO <= b < INT_HI) or (type(a) is float and type(b) is float):
                            if op == SEND_LT:
                                flag = a < b
                            elif op == SEND_GT:
                                flag = a > b
                            elif op == SEND_LE:
                                flag = a <= b
                            elif op == SEND_GE:
                                flag = a >= b
                            elif op == SEND_EQ:
                                flag = a == b
                            else:
                                flag = a != b
                            del stack[-1]
                            stack[-1] = TRUE if flag else FALSE
                            pc += 2
                            continue
                    elif op == SEND_MUL:
                        b = stack[-1]
                        a = stack[-2]
                        if type(a) is int and type(b) is int and INT_LO <= a < INT_HI and INT_LO <= b < INT_HI:
                            r = (a - ZERO) * (b - ZERO) + ZERO
                            if INT_LO <= r < INT_HI:
                                del stack[-1]
                                stack[-1] = r
                                pc += 2
                                continue
                        elif type(a) is float and type(b) is float:
                            del stack[-1]
                            stack[-1] = a * b
                            pc += 2
                            continue
                    elif op == POP_FIELD:
                        rcv.fields[code[pc + 1]] = stack.pop()
                        pc += 2
                        continue
                    elif op == PUSH_OUTER:
                        outer = ctx.outer
                        for _ in range(code[pc + 1] - 1):
                            outer = outer.outer
                        stack.append(outer.stack[code[pc + 2]])
                        pc += 3
                        continue
                    elif op == POP_OUTER or op == STORE_OUTER:
                        outer = ctx.outer
                        for _ in range(code[pc + 1] - 1):
                            outer = outer.outer
                        outer.stack[code[pc + 2]] = stack.pop() if op == POP_OUTER else stack[-1]
                        pc += 3
                        continue
                    elif op == STORE_LOCAL:
                        stack[code[pc + 1]] = stack[-1]
                        pc += 2
                        continue
                    elif op == STORE_FIELD:
                        rcv.fields[code[pc + 1]] = stack[-1]
                        pc += 2
                        continue
                    elif op == PUSH_NIL:
                        stack.append(NIL)
                        pc += 1
                        continue
                    elif op == PUSH_TRUE:
                        stack.append(TRUE)
                        pc += 1
                        continue
                    elif op == PUSH_FALSE:
                        stack.append(FALSE)
                        pc += 1
                        continue
                    elif op == PUSH_BLOCK:
                        block = literals[code[pc + 1]]
                        argc = block.num_args
                        stack.append(Closure(block_classes[argc] if argc < 3 else vm.Block,
                                             block, ctx, rcv))
                        pc += 2
                        continue
                    elif op == PUSH_GLOBAL:
                        name = literals[code[pc + 1]]
                        found = globals_.get(name, _ABSENT)
                        if found is _ABSENT:
                            ctx.pc = pc + 2
                            ctx = self.missing_global(ctx, name)
                            break
                        stack.append(found)
                        pc += 2
                        continue
                    elif op == RETURN_SELF:
                        ctx.pc = -1
                        ctx = ctx.sender
                        if ctx is None:
                            process.result = rcv
                            process.ctx = None
                            return FINISHED
                        ctx.stack.append(rcv)
                        break
                    elif op == JUMP_IF_NIL or op == JUMP_IF_NOT_NIL:
                        is_nil = stack.pop() == NIL
                        if is_nil == (op == JUMP_IF_NIL):
                            pc = code[pc + 1]
                        else:
                            pc += 2
                        continue
                    elif op == DUP:
                        stack.append(stack[-1])
                        pc += 1
                        continue
                    elif op == RETURN_NONLOCAL:
                        ctx.pc = pc
                        ctx = self.nonlocal_return(ctx, stack.pop())
                        if ctx is None:
                            return FINISHED
                        break
                    elif op == PUSH_CONTEXT:
                        stack.append(ctx)
                        pc += 1
                        continue
                    elif op == STORE_GLOBAL:
                        globals_[literals[code[pc + 1]]] = stack[-1]
                        pc += 2
                        continue
                    elif op == MAKE_ARRAY:
                        count = code[pc + 1]
                        items = stack[len(stack) - count:]
                        del stack[len(stack) - count:]
                        stack.append(VArray(vm.Array, items))
                        pc += 2
                        continue
                    elif op == SUPER_SEND or op == EVENTUAL_SEND:
                        budget -= 1
                        site = sites[code[pc + 1]]
                        ctx.pc = pc + 2
                        if op == SUPER_SEND:
                            ctx = self.super_send(ctx, site)
                        else:
                            ctx = self.eventual_send(ctx, site)
                        if ctx is None:
                            return SWITCHED
                        break
                    else:
                        raise VMFatal(f"bad opcode {op} at pc {pc} in {method!r}")
                # ---- a send: SEND, or a fast-path opcode whose fast path did not apply
                budget -= 1
                if budget < 0:
                    ctx.pc = pc
                    process.ctx = ctx
                    return YIELDED
                site = sites[code[pc + 1]]
                pc += 2
                argc = site.argc
                r = stack[-1 - argc]
                t = type(r)
                cls = class_of(r) if (t is int or t is float) else r.cls
                if site.token is cls.token:
                    m = site.target
                else:
                    m = lookup(cls, site.selector)
                    if m is None:
                        ctx.pc = pc
                        ctx = self.dnu(ctx, r, site.selector, argc)
                        break
                    site.token = cls.token
                    site.target = m
                kind = m.kind
                if kind == KIND_BYTECODE:
                    ctx.pc = pc
                    if argc:
                        new_stack = stack[-argc:]
                        del stack[-argc - 1:]
                    else:
                        new_stack = []
                        del stack[-1]
                    if m.num_temps:
                        new_stack.extend(nils(m.num_temps))
                    ctx = Context(context_cls, m, new_stack, r, ctx, None, None)
                    break
                if kind == KIND_CONTROL:
                    ctx.pc = pc
                    ctx = m.primitive(self, ctx, argc)
                    if ctx is None:
                        return SWITCHED
                    break
                try:
                    if argc == 0:
                        result = m.primitive(vm, r)
                    elif argc == 1:
                        result = m.primitive(vm, r, stack[-1])
                    else:
                        result = m.primitive(vm, r, *stack[-argc:])
                except Exception as error:  # noqa: BLE001 — every primitive error becomes Smalltalk's
                    ctx.pc = pc
                    ctx = self.primitive_error(ctx, m, argc, error)
                    break
                del stack[-argc - 1:]
                stack.append(result)

    # ------------------------------------------------------------------ sending

    def send_selector(self, ctx: Context, receiver: Any, selector: str, argc: int) -> Context:
        """Send ``selector`` to the receiver and ``argc`` arguments already on top of
        ``ctx``'s stack (receiver included); answer the context to continue in."""
        cls = self.vm.class_of(receiver)
        method = self.vm.lookup(cls, selector)
        if method is None:
            return self.dnu(ctx, receiver, selector, argc)
        return self.activate(ctx, method, argc)

    def send(self, ctx: Context, selector: str, argc: int) -> Context:
        receiver = ctx.stack[-1 - argc]
        return self.send_selector(ctx, receiver, selector, argc)

    def push_and_send(self, ctx: Context, receiver: Any, selector: str, args: list) -> Context:
        ctx.stack.append(receiver)
        ctx.stack.extend(args)
        return self.send_selector(ctx, receiver, selector, len(args))

    def super_send(self, ctx: Context, site: Any) -> Context:
        holder = ctx.method.home_method.holder
        start = holder.superclass
        method = self.vm.lookup(start, site.selector) if start is not None else None
        receiver = ctx.stack[-1 - site.argc]
        if method is None:
            return self.dnu(ctx, receiver, site.selector, site.argc)
        return self.activate(ctx, method, site.argc)

    def activate(self, ctx: Context, method: Any, argc: int) -> Context | None:
        """Run ``method`` on the receiver and arguments on top of ``ctx``'s stack."""
        kind = method.kind
        stack = ctx.stack
        if kind == KIND_BYTECODE:
            return self.method_context(ctx, method, argc)
        if kind == KIND_CONTROL:
            return method.primitive(self, ctx, argc)
        receiver = stack[-1 - argc]
        args = stack[len(stack) - argc:]
        try:
            result = method.primitive(self.vm, receiver, *args)
        except Exception as error:  # noqa: BLE001
            return self.primitive_error(ctx, method, argc, error)
        del stack[-argc - 1:]
        stack.append(result)
        return ctx

    def method_context(self, ctx: Context, method: Any, argc: int) -> Context:
        stack = ctx.stack
        receiver = stack[-1 - argc]
        new_stack = stack[len(stack) - argc:]
        del stack[-argc - 1:]
        new_stack.extend(nils(method.num_temps))
        return Context(self.vm.Context, method, new_stack, receiver, ctx, None, None)

    def block_context(self, ctx: Context, closure: Closure, args: list) -> Context:
        """A context running ``closure`` with ``args``; its sender is ``ctx``."""
        code = closure.code
        new_stack = list(args)
        new_stack.extend(nils(code.num_temps))
        return Context(self.vm.Context, code, new_stack, closure.receiver, ctx, closure.outer, closure)

    def dnu(self, ctx: Context, receiver: Any, selector: str, argc: int) -> Context:
        vm = self.vm
        stack = ctx.stack
        args = vm.new_array(stack[len(stack) - argc:])
        del stack[-argc - 1:]
        handler = vm.lookup(vm.class_of(receiver), "doesNotUnderstand:arguments:")
        if handler is None:
            raise VMFatal(f"{vm.class_of(receiver).name} does not understand #{selector} "
                          "nor #doesNotUnderstand:arguments:")
        stack.append(receiver)
        stack.append(vm.symbol(selector))
        stack.append(args)
        return self.activate(ctx, handler, 2)

    # ------------------------------------------------------------------ errors

    def primitive_error(self, ctx: Context, method: Any, argc: int, error: Exception) -> Context:
        """A primitive raised: run its fallback body, or signal the matching exception
        in the sender with the receiver and arguments popped."""
        if isinstance(error, PrimitiveFailed) and method.code:
            return self.method_context(ctx, method, argc)
        stack = ctx.stack
        del stack[-argc - 1:]
        vm = self.vm
        if isinstance(error, SignalException):
            exc = vm.make_exception(error.class_name, error.message_text, **error.fields)
        elif isinstance(error, PrimitiveFailed):
            reason = f": {error.reason}" if error.reason else ""
            exc = vm.make_exception("Error", f"primitive {method.holder.name}>>{method.selector} failed{reason}")
        elif isinstance(error, VMFatal):
            raise error
        else:
            exc = vm.make_exception(
                "Error", f"internal error in primitive {method.holder.name}>>{method.selector}: "
                         f"{type(error).__name__}: {error}")
        return self.push_and_send(ctx, exc, "signal", [])

    def signal_exception(self, ctx: Context, class_name: str, text: str, **fields: Any) -> Context:
        exc = self.vm.make_exception(class_name, text, **fields)
        return self.push_and_send(ctx, exc, "signal", [])

    def missing_global(self, ctx: Context, name: str) -> Context:
        """A global read found nothing: load the class along the classpath, else send
        ``unknownGlobal:`` to the receiver."""
        vm = self.vm
        try:
            found = vm.global_value(name)
        except Exception as error:  # noqa: BLE001 — a broken class file is the program's error
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
        if walker is None or home.pc < 0:
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

    def eventual_send(self, ctx: Context, site: Any) -> Context:
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


_ABSENT = object()
